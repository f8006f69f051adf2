package dev.tcpinspect.output;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.FlowView;
import dev.tcpinspect.snapshot.Addresses;
import dev.tcpinspect.snapshot.EventFields;
import dev.tcpinspect.snapshot.Flow;
import dev.tcpinspect.snapshot.LogLinearHistogram;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Reading;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * One JSON object per line. Every line has "type" and "time" (RFC 3339, UTC). Field names are a
 * contract: later versions add fields, never rename them. Each metric of a snapshot sits at its
 * path (Desc.path: "retransmit_detail.data" is {"retransmit_detail":{"data":N}}), so every probe's
 * counts come out without code of their own here.
 */
public final class JsonPresenter implements Presenter {
    /** Jackson's mapper, in a class of its own: its first use loads some 400 classes (0.15 s here). */
    private static final class Mapper {
        static final ObjectMapper JSON = new ObjectMapper();
    }

    /**
     * Every line goes through one streaming generator into a buffer: event lines are written field
     * by field without building a tree (there can be tens of thousands a second), and the buffer is
     * flushed with each ready, interval and summary line, so events reach a reader within an interval.
     */
    private JsonGenerator out; // under this object's lock, once the first line needs it (out())
    private final java.util.concurrent.CompletableFuture<JsonGenerator> opening;
    private final PrintStream stream;
    private final Fields fields = new Fields();

    /**
     * Sets Jackson up on a thread of its own: watch loads its probes meanwhile (the kernel's verifier
     * leaves a CPU free), and the first line written (the ready line, or an event before it) waits for it.
     */
    public JsonPresenter(PrintStream stream) {
        this.stream = stream;
        this.opening = java.util.concurrent.CompletableFuture.supplyAsync(() -> open(stream),
                task -> Thread.ofPlatform().daemon().name("tcpinspect-json-setup").start(task));
    }

    private static JsonGenerator open(PrintStream stream) {
        try {
            JsonGenerator generator = Mapper.JSON.getFactory().createGenerator(new java.io.BufferedOutputStream(stream, 1 << 16));
            generator.setRootValueSeparator(new com.fasterxml.jackson.core.io.SerializedString(""));
            time(Instant.EPOCH); // the formatter's locale data, also first used by the ready line
            return generator;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The generator, waiting for its set-up the first time (called under this object's lock). */
    private JsonGenerator out() {
        if (out == null) {
            try {
                out = opening.join();
            } catch (java.util.concurrent.CompletionException e) {
                switch (e.getCause()) {
                    case RuntimeException r -> throw r;
                    case Error error -> throw error;
                    default -> throw e;
                }
            }
        }
        return out;
    }

    /** RFC 3339 in UTC with milliseconds, as event lines have it (EventTime). */
    public static String time(Instant t) {
        return RFC3339_MILLIS.format(t);
    }

    private static final java.time.format.DateTimeFormatter RFC3339_MILLIS = java.time.format.DateTimeFormatter
            .ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);

    public static ObjectNode line(String type, Instant time) {
        ObjectNode node = Mapper.JSON.createObjectNode();
        node.put("type", type);
        node.put("time", time(time));
        return node;
    }

    /** Writes a whole line and flushes: the lines a reader waits for (ready, interval, summary). */
    private synchronized void emit(ObjectNode node) {
        try {
            JsonGenerator out = out();
            out.writeTree(node);
            out.writeRaw('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean wantsEvents() {
        return true;
    }

    @Override
    public boolean outputGone() {
        return stream.checkError();
    }

    @Override
    public void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        ObjectNode node = line("ready", time);
        interfaces.forEach(node.putArray("interfaces")::add);
        node.put("hook", hook);
        probes.forEach(node.putArray("probes")::add);
        emit(node);
    }

    @Override
    public void interval(Instant time, Duration length, Reading delta) {
        ObjectNode node = line("interval", time);
        node.put("seconds", length.toMillis() / 1000.0);
        metrics(node, delta);
        emit(node);
    }

    @Override
    public void summary(Instant time, Duration length, List<String> interfaces, Reading total) {
        ObjectNode node = line("summary", time);
        interfaces.forEach(node.putArray("interfaces")::add);
        node.put("seconds", length.toMillis() / 1000.0);
        metrics(node, total);
        emit(node);
    }

    /** An alert as an event line of its type: state, source, family and its own fields. */
    @Override
    public void alert(dev.tcpinspect.snapshot.Alert alert) {
        emit(alertLine(alert));
    }

    /** An alert as its event line: type, time, state, source, family and its own fields. */
    public static ObjectNode alertLine(dev.tcpinspect.snapshot.Alert alert) {
        ObjectNode node = line(alert.type(), alert.time());
        node.put("state", alert.state().label());
        node.put("source", alert.source());
        node.put("family", alert.family());
        cells(node, alert.fields());
        return node;
    }

    private static void cells(ObjectNode o, List<Metric.Cell> cells) {
        for (Metric.Cell cell : cells) {
            switch (cell) {
                case Metric.Cell.FlowCell f -> flow(o, f.flow());
                case Metric.Cell.Text text -> o.put(text.name(), text.value());
                case Metric.Cell.Count count -> o.put(count.name(), count.value());
                case Metric.Cell.Decimal decimal -> o.put(decimal.name(), decimal.value());
            }
        }
    }

    /** Puts every metric of every snapshot at its path, as interval and summary lines have them. */
    public static void metrics(ObjectNode node, Reading reading) {
        metrics(node, reading, false);
    }

    /**
     * With buckets, each distribution also carries its counts by power of two ("buckets": [[from_ms,
     * to_ms, count], ...], from its first value's row to its last's): what a page draws a histogram of.
     */
    public static void metrics(ObjectNode node, Reading reading, boolean buckets) {
        for (Snapshot s : reading.snapshots()) {
            for (Metric m : s.metrics()) {
                put(node, m, buckets);
            }
        }
    }

    private static void put(ObjectNode root, Metric m, boolean buckets) {
        String[] path = m.desc().path().split("\\.");
        ObjectNode parent = root;
        for (int i = 0; i < path.length - 1; i++) {
            parent = parent.has(path[i]) ? (ObjectNode) parent.get(path[i]) : parent.putObject(path[i]);
        }
        String field = path[path.length - 1];
        switch (m) {
            case Metric.Counter c -> parent.put(field, c.value());
            case Metric.Gauge g -> parent.put(field, g.value());
            case Metric.Distribution d -> distribution(parent.putObject(field), d.histogram(), buckets);
            case Metric.CounterMap map -> {
                ObjectNode o = parent.putObject(field);
                map.counts().forEach(o::put);
            }
            case Metric.DistributionMap map -> {
                ObjectNode o = parent.putObject(field);
                map.histograms().forEach((label, h) -> distribution(o.putObject(label), h, buckets));
            }
            case Metric.Table t -> {
                ArrayNode rows = parent.putArray(field);
                for (Metric.Row row : t.rows()) {
                    cells(rows.addObject(), row.cells());
                }
            }
        }
    }

    private static void flow(ObjectNode node, Flow flow) {
        node.put("netns", flow.netns());
        String name = flow.netnsName();
        if (name != null) {
            node.put("netns_name", name);
        }
        node.put("family", flow.family());
        node.put("laddr", Addresses.format(flow.laddr()));
        node.put("lport", flow.lport());
        node.put("raddr", Addresses.format(flow.raddr()));
        node.put("rport", flow.rport());
    }

    private static void distribution(ObjectNode node, LogLinearHistogram h, boolean buckets) {
        percentiles(node, h);
        if (!buckets) {
            return;
        }
        ArrayNode rows = node.putArray("buckets");
        long[] byPower = HistogramBars.powersOfTwo(h);
        int first = -1;
        int last = -1;
        for (int r = 0; r < byPower.length; r++) {
            if (byPower[r] != 0) {
                first = first < 0 ? r : first;
                last = r;
            }
        }
        for (int r = Math.max(first, 0); r <= last; r++) {
            // row r: the values (microseconds) from 2^(r-1) up to 2^r; row 0 the zeros
            ArrayNode row = rows.addArray();
            row.add(r == 0 ? 0 : (1L << (r - 1)) / 1000.0);
            row.add(r == 0 ? 0.001 : (1L << r) / 1000.0);
            row.add(byPower[r]);
        }
    }

    /** count, min, p50, p90, p99, max; latencies in milliseconds (the kernel keeps microseconds). */
    static void percentiles(ObjectNode node, LogLinearHistogram h) {
        LogLinearHistogram.Percentiles p = h.percentiles();
        node.put("count", p.count());
        node.put("min", p.min() / 1000.0);
        node.put("p50", p.p50() / 1000.0);
        node.put("p90", p.p90() / 1000.0);
        node.put("p99", p.p99() / 1000.0);
        node.put("max", p.max() / 1000.0);
    }

    /*
     * Event lines are written from the record in place, through buffers reused for every line: no
     * Flow, InetAddress or String per event (the reader thread and the watch's thread share them
     * under this object's lock).
     */
    private final EventTime eventTime = new EventTime();
    private final char[] text = new char[Math.max(Addresses.MAX_LENGTH, EventTime.LENGTH)];
    private final byte[] address = new byte[16];
    private final char[] number = new char[Decimals.MAX_LENGTH];

    @Override
    public synchronized void event(EventType<?> type, EventView event) {
        try {
            FlowView flow = event.flowView();
            JsonGenerator out = out();
            out.writeStartObject();
            out.writeFieldName(TYPE);
            out.writeString(encoded(type.name()));
            out.writeFieldName(TIME);
            out.writeString(text, 0, eventTime.write(event.monotonicNanos(), text));
            out.writeFieldName(NETNS);
            out.writeNumber(flow.netns());
            String name = flow.netnsName();
            if (name != null) {
                out.writeFieldName(NETNS_NAME);
                out.writeString(name);
            }
            out.writeFieldName(FAMILY);
            out.writeString(flow.ipv6() ? IPV6 : IPV4);
            out.writeFieldName(LADDR);
            out.writeString(text, 0, Addresses.write(address, flow.localAddress(address), text));
            out.writeFieldName(LPORT);
            out.writeNumber(flow.lport());
            out.writeFieldName(RADDR);
            out.writeString(text, 0, Addresses.write(address, flow.remoteAddress(address), text));
            out.writeFieldName(RPORT);
            out.writeNumber(flow.rport());
            type.write(event, fields);
            out.writeEndObject();
            out.writeRaw('\n');
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /*
     * Names and constant texts with their JSON form (quoted, escaped, UTF-8) worked out once: Jackson
     * then copies bytes instead of encoding characters, for each of the dozen fields of every line.
     */
    private static final SerializedString TYPE = new SerializedString("type");
    private static final SerializedString TIME = new SerializedString("time");
    private static final SerializedString NETNS = new SerializedString("netns");
    private static final SerializedString NETNS_NAME = new SerializedString("netns_name");
    private static final SerializedString FAMILY = new SerializedString("family");
    private static final SerializedString IPV4 = new SerializedString("ipv4");
    private static final SerializedString IPV6 = new SerializedString("ipv6");
    private static final SerializedString LADDR = new SerializedString("laddr");
    private static final SerializedString LPORT = new SerializedString("lport");
    private static final SerializedString RADDR = new SerializedString("raddr");
    private static final SerializedString RPORT = new SerializedString("rport");
    /**
     * The cache starts again when it holds this many: a few texts are made per event (the number of a
     * reason this kernel has no name for), and they must not crowd out the constants for good.
     */
    private static final int MAX_ENCODED = 4096;
    private final java.util.IdentityHashMap<String, SerializedString> encoded = new java.util.IdentityHashMap<>();

    /** A name or text's JSON form, by identity: the probes pass the same String objects each time. */
    private SerializableString encoded(String s) {
        SerializedString e = encoded.get(s);
        if (e == null) {
            if (encoded.size() >= MAX_ENCODED) {
                encoded.clear();
            }
            e = new SerializedString(s);
            encoded.put(s, e);
        }
        return e;
    }

    /** An event's own fields, straight into the generator (called under this object's lock). */
    private final class Fields implements EventFields {
        @Override
        public void text(String name, String value) throws IOException {
            out.writeFieldName(encoded(name));
            out.writeString(encoded(value));
        }

        @Override
        public void number(String name, long value) throws IOException {
            out.writeFieldName(encoded(name));
            out.writeNumber(value);
        }

        @Override
        public void scaled(String name, long value, int decimals) throws IOException {
            out.writeFieldName(encoded(name));
            if (value < 0) { // not a kernel duration; written as is rather than as garbage digits
                out.writeNumber(value / Math.pow(10, decimals));
                return;
            }
            int start = Decimals.writeScaled(value, decimals, number);
            out.writeNumber(number, start, number.length - start);
        }

        @Override
        public void utf8(String name, byte[] bytes, int length) throws IOException {
            out.writeFieldName(encoded(name));
            for (int i = 0; i < length; i++) {
                if (bytes[i] < 0) {
                    out.writeString(new String(bytes, 0, length, java.nio.charset.StandardCharsets.UTF_8));
                    return;
                }
                text[i] = (char) bytes[i];
            }
            out.writeString(text, 0, length);
        }
    }

    public static void print(PrintStream out, ObjectNode node) {
        synchronized (out) {
            out.println(node.toString());
            out.flush();
        }
    }
}
