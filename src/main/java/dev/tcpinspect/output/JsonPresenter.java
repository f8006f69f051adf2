package dev.tcpinspect.output;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.probe.Flow;
import dev.tcpinspect.probe.FlowView;
import dev.tcpinspect.probe.NetnsNames;
import dev.tcpinspect.probe.Reading;
import dev.tcpinspect.probe.TcpStates;
import dev.tcpinspect.ebpf.KernelEnums;
import dev.tcpinspect.probe.conn.ConnCounts;
import dev.tcpinspect.probe.conn.ConnEvent;
import dev.tcpinspect.probe.drops.DropCounts;
import dev.tcpinspect.probe.dupack.DupAckCounts;
import dev.tcpinspect.probe.rtt.RemoteRtt;
import dev.tcpinspect.probe.rtt.RttEvent;
import dev.tcpinspect.probe.rtt.RttStats;
import dev.tcpinspect.probe.zerowin.FlowZeroWindows;
import dev.tcpinspect.probe.zerowin.ZeroWindowCounts;
import dev.tcpinspect.probe.zerowin.ZeroWindowEvent;
import dev.tcpinspect.probe.dupack.DupAckEvent;
import dev.tcpinspect.probe.dupack.FlowDupAcks;
import dev.tcpinspect.probe.handshake.HandshakeEvent;
import dev.tcpinspect.probe.handshake.HandshakeStats;
import dev.tcpinspect.probe.hist.LogLinearHistogram;
import dev.tcpinspect.probe.drops.DropEvent;
import dev.tcpinspect.probe.drops.DropsProbe;
import dev.tcpinspect.probe.drops.FlowDrops;
import dev.tcpinspect.probe.reset.FlowResets;
import dev.tcpinspect.probe.reset.ResetCounts;
import dev.tcpinspect.probe.reset.ResetEvent;
import dev.tcpinspect.probe.retrans.FlowRetransmits;
import dev.tcpinspect.probe.retrans.RetransCounts;
import dev.tcpinspect.probe.retrans.RetransmitEvent;
import dev.tcpinspect.probe.syncount.PacketCounts;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * One JSON object per line. Every line has "type" and "time" (RFC 3339, UTC). Field names are a
 * contract: later versions add fields, never rename them.
 */
public final class JsonPresenter implements Presenter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final NetnsNames netnsNames = new NetnsNames();
    /**
     * Every line goes through one streaming generator into a buffer: event lines are written field
     * by field without building a tree (there can be tens of thousands a second), and the buffer is
     * flushed with each ready, interval and summary line, so events reach a reader within an interval.
     */
    private final JsonGenerator out;

    public JsonPresenter(PrintStream stream) {
        try {
            this.out = JSON.getFactory().createGenerator(new java.io.BufferedOutputStream(stream, 1 << 16));
            this.out.setRootValueSeparator(new com.fasterxml.jackson.core.io.SerializedString(""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** RFC 3339 in UTC with milliseconds, as event lines have it (EventTime). */
    public static String time(Instant t) {
        return RFC3339_MILLIS.format(t);
    }

    private static final java.time.format.DateTimeFormatter RFC3339_MILLIS = java.time.format.DateTimeFormatter
            .ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);

    public static ObjectNode line(String type, Instant time) {
        ObjectNode node = JSON.createObjectNode();
        node.put("type", type);
        node.put("time", time(time));
        return node;
    }

    /** Writes a whole line and flushes: the lines a reader waits for (ready, interval, summary). */
    private synchronized void emit(ObjectNode node) {
        try {
            out.writeTree(node);
            out.writeRaw('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /*
     * Event lines are written from the record in place, through buffers reused for every line: no
     * Flow, InetAddress or String per event (the reader threads share them under this object's lock).
     */
    private final EventTime eventTime = new EventTime();
    private final char[] text = new char[Math.max(Addresses.MAX_LENGTH, EventTime.LENGTH)];
    private final byte[] address = new byte[16];
    private final char[] number = new char[Decimals.MAX_LENGTH];

    /** Starts an event line (the caller holds the lock): type, time and the flow's fields. */
    private void startEvent(String type, EventView event) throws IOException {
        FlowView flow = event.flowView();
        out.writeStartObject();
        out.writeStringField("type", type);
        out.writeFieldName("time");
        out.writeString(text, 0, eventTime.write(event.monotonicNanos(), text));
        out.writeNumberField("netns", flow.netns());
        String name = netnsNames.nameOf(flow.netns());
        if (name != null) {
            out.writeStringField("netns_name", name);
        }
        out.writeStringField("family", flow.ipv6() ? "ipv6" : "ipv4");
        out.writeFieldName("laddr");
        out.writeString(text, 0, Addresses.write(address, flow.localAddress(address), text));
        out.writeNumberField("lport", flow.lport());
        out.writeFieldName("raddr");
        out.writeString(text, 0, Addresses.write(address, flow.remoteAddress(address), text));
        out.writeNumberField("rport", flow.rport());
    }

    /** A count of 10^-decimals units (micro- or nanoseconds) as a number of milliseconds (Decimals). */
    private void writeScaled(String field, long value, int decimals) throws IOException {
        out.writeFieldName(field);
        if (value < 0) { // not a kernel duration; written as is rather than as garbage digits
            out.writeNumber(value / (decimals == 3 ? 1e3 : 1e6));
            return;
        }
        int start = Decimals.writeScaled(value, decimals, number);
        out.writeNumber(number, start, number.length - start);
    }

    private static boolean isAscii(byte[] bytes, int length) {
        for (int i = 0; i < length; i++) {
            if (bytes[i] < 0) {
                return false;
            }
        }
        return true;
    }

    private void endEvent() throws IOException {
        out.writeEndObject();
        out.writeRaw('\n');
    }

    @Override
    public boolean wantsEvents() {
        return true;
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
        counts(node, delta);
        emit(node);
    }

    @Override
    public void summary(Instant time, Duration length, List<String> interfaces, Reading total) {
        ObjectNode node = line("summary", time);
        interfaces.forEach(node.putArray("interfaces")::add);
        node.put("seconds", length.toMillis() / 1000.0);
        counts(node, total);
        if (total.rtt() != null) {
            ArrayNode remotes = node.putArray("rtt_by_remote");
            for (RemoteRtt r : total.rttRemotes()) {
                ObjectNode entry = remotes.addObject();
                entry.put("netns", r.netns());
                entry.put("address", Addresses.format(r.address()));
                entry.put("samples", r.samples());
                entry.put("srtt_ms", r.lastSrttMicros() / 1000.0);
                entry.put("min_ms", r.minSrttMicros() / 1000.0);
                entry.put("max_ms", r.maxSrttMicros() / 1000.0);
                entry.put("cwnd", r.lastCwnd());
            }
        }
        if (total.zeroWindows() != null) {
            ArrayNode top = node.putArray("top_zero_window_flows");
            for (FlowZeroWindows f : total.topZeroWindows()) {
                ObjectNode entry = top.addObject();
                flow(entry, f.flow());
                entry.put("direction", f.sent() ? "sent" : "received");
                entry.put("closures", f.closures());
                entry.put("closed_ms", f.closedNanos() / 1e6);
            }
        }
        if (total.dupacks() != null) {
            ArrayNode top = node.putArray("top_dupack_flows");
            for (FlowDupAcks f : total.topDupAcks()) {
                ObjectNode entry = top.addObject();
                flow(entry, f.flow());
                entry.put("dupacks", f.dupacks());
            }
        }
        if (total.drops() != null) {
            ArrayNode top = node.putArray("top_drop_flows");
            for (FlowDrops f : total.topDrops()) {
                ObjectNode entry = top.addObject();
                flow(entry, f.flow());
                entry.put("reason", f.reason());
                entry.put("drops", f.count());
            }
        }
        if (total.resets() != null) {
            ArrayNode top = node.putArray("top_reset_flows");
            for (FlowResets f : total.topResets()) {
                ObjectNode entry = top.addObject();
                flow(entry, f.flow());
                entry.put("sent", f.sent());
                entry.put("received", f.received());
            }
        }
        if (total.retrans() != null) {
            ArrayNode top = node.putArray("top_retransmit_flows");
            for (FlowRetransmits f : total.topRetransmits()) {
                ObjectNode entry = top.addObject();
                flow(entry, f.flow());
                entry.put("retransmits", f.total());
                entry.put("synack", f.synack());
            }
        }
        emit(node);
    }

    @Override
    public synchronized void retransmit(RetransmitEvent event) {
        try {
            startEvent("retransmit", event);
            out.writeStringField("state", TcpStates.name(event.state()));
            out.writeStringField("kind", event.synack() ? "synack" : "data");
            out.writeNumberField("err", event.err());
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void reset(ResetEvent event) {
        try {
            startEvent("reset", event);
            out.writeStringField("direction", event.received() ? "received" : "sent");
            out.writeStringField("state", TcpStates.name(event.state()));
            if (!event.received()) {
                out.writeStringField("reason", KernelEnums.values("sk_rst_reason", "SK_RST_REASON_")
                        .getOrDefault((long) event.reason(), Integer.toString(event.reason())));
            }
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void rtt(RttEvent event) {
        try {
            startEvent("rtt", event);
            writeScaled("srtt_ms", event.srttMicros(), 3);
            out.writeNumberField("cwnd", event.cwnd());
            out.writeNumberField("snd_wnd", event.sendWindow());
            out.writeNumberField("rcv_wnd", event.receiveWindow());
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void zeroWindow(ZeroWindowEvent event) {
        try {
            startEvent("zero_window", event);
            out.writeStringField("direction", event.sent() ? "sent" : "received");
            out.writeStringField("event", event.reopened() ? "reopened" : "closed");
            if (event.reopened()) {
                writeScaled("closed_ms", event.closedNanos(), 6);
            }
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void dupack(DupAckEvent event) {
        try {
            startEvent("dupack", event);
            out.writeNumberField("ack", event.ack());
            out.writeNumberField("window", event.window());
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void handshake(HandshakeEvent event) {
        try {
            startEvent("handshake", event);
            out.writeStringField("kind", event.passive() ? "passive" : "active");
            writeScaled("latency_ms", event.latencyMicros(), 3);
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void conn(ConnEvent event) {
        try {
            startEvent("conn", event);
            out.writeStringField("old_state", TcpStates.name(event.oldState()));
            out.writeStringField("new_state", TcpStates.name(event.newState()));
            if (event.open() != ConnEvent.Open.NONE) {
                out.writeStringField("open", event.open() == ConnEvent.Open.PASSIVE ? "passive" : "active");
            }
            if (event.end() != ConnEvent.End.NONE) {
                out.writeStringField("end", END_NAMES[event.end().ordinal()]);
                writeScaled("duration_ms", event.durationNanos(), 6);
                out.writeNumberField("bytes_in", event.bytesIn());
                out.writeNumberField("bytes_out", event.bytesOut());
            }
            if (event.pid() != 0) {
                out.writeNumberField("pid", event.pid());
                out.writeFieldName("comm");
                int n = event.comm(address);
                if (isAscii(address, n)) {
                    for (int i = 0; i < n; i++) {
                        text[i] = (char) address[i];
                    }
                    out.writeString(text, 0, n);
                } else {
                    out.writeString(event.comm());
                }
            }
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final String[] END_NAMES = java.util.Arrays.stream(ConnEvent.End.values())
            .map(e -> e.name().toLowerCase()).toArray(String[]::new);

    @Override
    public synchronized void drop(DropEvent event) {
        try {
            startEvent("drop", event);
            out.writeStringField("reason", DropsProbe.reasonName(Integer.toUnsignedLong(event.reason())));
            endEvent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void flow(ObjectNode node, Flow flow) {
        node.put("netns", flow.netns());
        String name = netnsNames.nameOf(flow.netns());
        if (name != null) {
            node.put("netns_name", name);
        }
        node.put("family", flow.family());
        node.put("laddr", Addresses.format(flow.laddr()));
        node.put("lport", flow.lport());
        node.put("raddr", Addresses.format(flow.raddr()));
        node.put("rport", flow.rport());
    }

    /** Adds "packets" and "syn_by_port" (ports as string keys, ascending), and the retransmit counts. */
    static void counts(ObjectNode node, Reading reading) {
        PacketCounts c = reading.packets();
        if (c != null) {
            ObjectNode packets = node.putObject("packets");
            packets.put("tcp", c.tcp());
            packets.put("syn", c.syn());
            packets.put("synack", c.synack());
            packets.put("fin", c.fin());
            packets.put("rst", c.rst());
            packets.put("ack", c.ack());
            packets.put("malformed", c.malformed());
            ObjectNode ports = node.putObject("syn_by_port");
            c.synByPortSorted().forEach((port, n) -> ports.put(Integer.toString(port), n));
        }
        RetransCounts r = reading.retrans();
        if (r != null) {
            node.put("retransmits", r.total());
            ObjectNode detail = node.putObject("retransmit_detail");
            detail.put("data", r.data());
            detail.put("synack", r.synack());
            detail.put("events_lost", r.eventsLost());
            detail.put("flows_untracked", r.flowsFull());
        }
        RttStats rtt = reading.rtt();
        if (rtt != null) {
            percentiles(node.putObject("rtt_ms"), rtt.srtt().percentiles());
            ObjectNode detail = node.putObject("rtt_detail");
            detail.put("events_lost", rtt.eventsLost());
            detail.put("remotes_untracked", rtt.remotesUntracked());
        }
        ZeroWindowCounts zw = reading.zeroWindows();
        if (zw != null) {
            ObjectNode z = node.putObject("zero_window");
            z.put("received", zw.received());
            z.put("sent", zw.sent());
            ObjectNode detail = node.putObject("zero_window_detail");
            detail.put("segments_received", zw.segmentsReceived());
            detail.put("segments_sent", zw.segmentsSent());
            detail.put("events_lost", zw.eventsLost());
            detail.put("flows_untracked", zw.flowsUntracked());
        }
        DupAckCounts dup = reading.dupacks();
        if (dup != null) {
            node.put("dupacks", dup.dupacks());
            ObjectNode detail = node.putObject("dupack_detail");
            detail.put("flows_untracked", dup.flowsUntracked());
            detail.put("events_lost", dup.eventsLost());
            detail.put("detector_evictions", dup.detectorEvictions());
        }
        HandshakeStats hs = reading.handshake();
        if (hs != null) {
            ObjectNode ms = node.putObject("handshake_ms");
            percentiles(ms.putObject("passive"), hs.passive().percentiles());
            percentiles(ms.putObject("active"), hs.active().percentiles());
            ObjectNode detail = node.putObject("handshake_detail");
            detail.put("passive_unmatched", hs.passiveUnmatched());
            detail.put("events_lost", hs.eventsLost());
            detail.put("ports_untracked", hs.portsFull());
            if (!reading.handshakeByPort().isEmpty()) {
                ObjectNode byPort = node.putObject("handshake_ms_by_port");
                new java.util.TreeMap<>(reading.handshakeByPort()).forEach(
                        (port, h) -> percentiles(byPort.putObject(Integer.toString(port)), h.percentiles()));
            }
        }
        ConnCounts conns = reading.connections();
        if (conns != null) {
            ObjectNode cn = node.putObject("connections");
            cn.put("opened_passive", conns.openedPassive());
            cn.put("opened_active", conns.openedActive());
            cn.put("closed", conns.closed());
            cn.put("reset", conns.reset());
            cn.put("timeout", conns.timeout());
            cn.put("events_lost", conns.eventsLost());
            cn.put("sockets_untracked", conns.socksUntracked());
        }
        DropCounts drops = reading.drops();
        if (drops != null) {
            ObjectNode byReason = node.putObject("drops");
            new java.util.TreeMap<>(drops.byReason()).forEach(byReason::put);
            ObjectNode detail = node.putObject("drop_detail");
            detail.put("total", drops.total());
            detail.put("rcvqueue_full", drops.rcvqueueFull());
            detail.put("listen_overflows", drops.listenOverflows());
            detail.put("events_lost", drops.eventsLost());
            detail.put("flows_untracked", drops.flowsFull());
        }
        ResetCounts resets = reading.resets();
        if (resets != null) {
            ObjectNode rst = node.putObject("resets");
            rst.put("sent", resets.sent());
            rst.put("received", resets.received());
            rst.put("events_lost", resets.eventsLost());
            rst.put("flows_untracked", resets.flowsFull());
        }
        if (!reading.runsSkipped().isEmpty()) {
            ObjectNode skipped = node.putObject("runs_skipped");
            reading.runsSkipped().forEach(skipped::put);
        }
    }

    /** count, min, p50, p90, p99, max; latencies in milliseconds (the kernel keeps microseconds). */
    static void percentiles(ObjectNode node, LogLinearHistogram.Percentiles p) {
        node.put("count", p.count());
        node.put("min", p.min() / 1000.0);
        node.put("p50", p.p50() / 1000.0);
        node.put("p90", p.p90() / 1000.0);
        node.put("p99", p.p99() / 1000.0);
        node.put("max", p.max() / 1000.0);
    }

    public static void print(PrintStream out, ObjectNode node) {
        synchronized (out) {
            out.println(node.toString());
            out.flush();
        }
    }
}
