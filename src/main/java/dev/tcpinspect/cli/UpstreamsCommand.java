package dev.tcpinspect.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.output.JsonPresenter;
import dev.tcpinspect.output.Presenter;
import dev.tcpinspect.probe.Probe;
import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Metric;
import dev.tcpinspect.snapshot.Snapshot;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The upstream probe alone, as a live table of the upstreams named: health, reasons, connects and
 * handshake latency, one table an interval; health changes as alert lines between them. Renders the
 * probe's own table (its snapshot's only Table) whatever its columns.
 */
@Command(name = "upstreams", mixinStandardHelpOptions = true,
        description = {"The upstreams this host connects to (a gateway's providers and backends), named with",
            "--upstream: a table of their health, connect results and handshake latency, every interval, until",
            "Ctrl-C. Health: unhealthy after --set upstream.failures connects in a row failed, degraded while",
            "retransmits or handshake latency are well above their usual, or while a connection waits",
            "--set upstream.stall seconds for data that does not come (README, Upstreams). All from the TCP",
            "tracepoints but zero windows and stalls, which the interfaces' TC hooks see (-i). Observation only."},
        footer = {"", "Examples:",
            "  sudo tcpinspect upstreams --upstream openai=api.openai.com:443 --upstream pool=198.18.8.0/24:8443",
            "  sudo tcpinspect upstreams --upstream api=[2001:db8::7]:443 --format json | jq 'select(.type==\"upstream\")'"})
final class UpstreamsCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--upstream", paramLabel = "NAME=TARGET", required = true,
            description = "An upstream: NAME=HOST:PORT, NAME=CIDR:PORT, NAME=[IPV6]:PORT or NAME=[IPV6/LEN]:PORT,"
                    + " several targets joined by commas, no port for any; repeat for more (at most 16 upstreams, 64"
                    + " targets in all). Names are resolved once, at the start.")
    List<String> upstreams = new ArrayList<>();

    @Option(names = {"-i", "--interface"}, paramLabel = "IFACE",
            description = "Interface whose segments show zero windows; repeat for several. Default: every interface that"
                    + " is up.")
    List<String> interfaces = new ArrayList<>();

    @Option(names = "--interval", paramLabel = "SECONDS", defaultValue = "1",
            description = "Seconds between tables (default ${DEFAULT-VALUE}).")
    double interval;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "Stop after this many seconds. Default: until Ctrl-C.")
    Double duration;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "text",
            description = "text (a table every interval) or json (a line of type \"upstreams\" every interval). Default: ${DEFAULT-VALUE}.")
    Presenter.Format format;

    @Option(names = "--set", paramLabel = "upstream.KEY=VALUE", mapFallbackValue = "",
            description = "Change a health threshold, as watch --set: upstream.failures, upstream.retransmit_percent,"
                    + " upstream.window, upstream.handshake_factor, upstream.stall.")
    java.util.Map<String, String> settings = new java.util.LinkedHashMap<>();

    @Option(names = "--netns", paramLabel = "NAME", description = "The connections made in the network namespace NAME (ip netns).")
    String netns;

    @Option(names = "--all-netns", description = "The connections of every network namespace, not only this one's.")
    boolean allNetns;

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT).withZone(ZoneOffset.UTC);

    /**
     * Jackson, made when upstreams writes JSON: picocli builds every command for --help, --version
     * or a mistake, and a mapper made then loaded 375 classes (--version 0.71 s, 0.53 s without).
     */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    @Override
    public Integer call() throws Exception {
        if (!(interval >= WatchCommand.MIN_INTERVAL && interval <= WatchCommand.MAX_SECONDS)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--interval must be a number of seconds from "
                    + WatchCommand.MIN_INTERVAL + " to " + (long) WatchCommand.MAX_SECONDS + ", not " + interval);
        }
        if (duration != null && !(duration > 0 && duration <= WatchCommand.MAX_SECONDS)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--duration must be a number of seconds above 0"
                    + " and at most " + (long) WatchCommand.MAX_SECONDS + ", not " + duration);
        }
        List<Probe> chosen = new ArrayList<>();
        WatchCommand.addTo(chosen, WatchCommand.UPSTREAM_PROBE, "--upstream", upstreams, spec);
        Probe probe = chosen.getFirst();
        for (var e : settings.entrySet()) {
            String key = e.getKey();
            String prefix = WatchCommand.UPSTREAM_PROBE + ".";
            try {
                if (!key.startsWith(prefix)) {
                    throw new IllegalArgumentException("name a setting as " + prefix + "KEY");
                }
                probe.set(key.substring(prefix.length()), e.getValue());
            } catch (IllegalArgumentException bad) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--set " + key + ": " + bad.getMessage());
            }
        }
        if (!Privileges.current().canAttachPacketPrograms()) {
            throw new IllegalStateException("upstreams: " + Privileges.MISSING);
        }
        PrintStream out = System.out;
        try (dev.tcpinspect.os.Netns target = PolicyCommand.namespace(netns).map(dev.tcpinspect.os.Netns::named)
                .orElseGet(dev.tcpinspect.os.Netns::current);
             StopSignal stop = new StopSignal();
             ProbeSet running = target.call(() -> ProbeSet.start(List.of(probe), ProbeSet.Options.defaults()
                     .interfaces(interfacesHere()).allNetns(allNetns)))) {
            running.onAlerts(a -> alert(out, a));
            if (running.detachesWithoutPrivileges() && netns == null
                    && dev.tcpinspect.ebpf.Features.descriptorsSufficeWithoutCapabilities()) {
                Privileges.dropRoot(); // attached: as watch, it goes on with the file descriptors it holds
            }
            Instant start = Instant.now();
            Instant deadline = duration == null ? null : start.plus(WatchCommand.seconds(duration));
            if (format == Presenter.Format.JSON) {
                ObjectNode ready = JsonPresenter.line("ready", start);
                ready.putArray("upstreams").addAll(upstreams.stream().map(Json.MAPPER::valueToTree)
                        .map(n -> (com.fasterxml.jackson.databind.JsonNode) n).toList());
                print(out, Json.MAPPER.writeValueAsString(ready));
            } else {
                print(out, "Watching " + upstreams.size() + " upstream" + (upstreams.size() == 1 ? "" : "s")
                        + " (connections made from this host). Ctrl-C to stop.");
            }
            Duration every = WatchCommand.seconds(interval);
            Instant next = start.plus(every);
            while (true) {
                Instant wake = deadline != null && deadline.isBefore(next) ? deadline : next;
                if (stop.await(Duration.between(Instant.now(), wake).isNegative() ? Duration.ZERO
                        : Duration.between(Instant.now(), wake))) {
                    break;
                }
                Instant now = Instant.now();
                table(out, now, running.read(true));
                if (out.checkError() || (deadline != null && !now.isBefore(deadline))) {
                    break;
                }
                next = next.plus(every);
            }
        }
        return 0;
    }

    /**
     * The interfaces named (each checked before anything is attached), or every one that is up, in
     * the namespace this runs in.
     */
    private List<String> interfacesHere() {
        List<String> in = interfaces.isEmpty() ? dev.tcpinspect.os.NetInterfaces.up()
                : List.copyOf(new java.util.LinkedHashSet<>(interfaces));
        for (String name : in) {
            dev.tcpinspect.os.NetInterfaces.indexOf(name);
        }
        return in;
    }

    private synchronized void print(PrintStream out, String line) {
        out.println(line);
        out.flush();
    }

    /** The probe's table (the snapshot's only Table): aligned columns in text, a JSON line of its rows. */
    private void table(PrintStream out, Instant now, dev.tcpinspect.snapshot.Reading reading) throws Exception {
        Metric.Table table = null;
        for (Snapshot s : reading.snapshots()) {
            for (Metric m : s.metrics()) {
                if (m instanceof Metric.Table t) {
                    table = t;
                }
            }
        }
        if (table == null) {
            return;
        }
        if (format == Presenter.Format.JSON) {
            ObjectNode line = JsonPresenter.line(table.desc().path(), now);
            ArrayNode rows = line.putArray(table.desc().path());
            for (Metric.Row r : table.rows()) {
                ObjectNode o = rows.addObject();
                for (Metric.Cell c : r.cells()) {
                    switch (c) {
                        case Metric.Cell.Text t -> o.put(t.name(), t.value());
                        case Metric.Cell.Count n -> o.put(n.name(), n.value());
                        case Metric.Cell.Decimal d -> o.put(d.name(), d.value());
                        case Metric.Cell.FlowCell f -> o.put("flow", f.flow().toString());
                    }
                }
            }
            print(out, Json.MAPPER.writeValueAsString(line));
            return;
        }
        List<List<String>> cells = new ArrayList<>();
        List<String> header = new ArrayList<>();
        for (Metric.Row r : table.rows()) {
            List<String> row = new ArrayList<>();
            for (Metric.Cell c : r.cells()) {
                String name;
                String value;
                switch (c) {
                    case Metric.Cell.Text t -> { name = t.name(); value = t.value(); }
                    case Metric.Cell.Count n -> { name = n.name(); value = String.format(Locale.ROOT, "%,d", n.value()); }
                    case Metric.Cell.Decimal d -> { name = d.name(); value = String.format(Locale.ROOT, "%.3f", d.value()); }
                    case Metric.Cell.FlowCell f -> { name = "flow"; value = f.flow().toString(); }
                }
                if (cells.isEmpty()) {
                    header.add(name.toUpperCase(Locale.ROOT).replace('_', '-'));
                }
                row.add(value.isEmpty() ? "-" : value);
            }
            cells.add(row);
        }
        int[] widths = new int[header.size()];
        for (int i = 0; i < widths.length; i++) {
            widths[i] = header.get(i).length();
            for (List<String> row : cells) {
                widths[i] = Math.max(widths[i], row.get(i).length());
            }
        }
        StringBuilder text = new StringBuilder(CLOCK.format(now) + " UTC\n");
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(cells);
        for (List<String> row : all) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.size(); i++) {
                boolean last = i == row.size() - 1;
                line.append(last ? row.get(i) : String.format("%-" + widths[i] + "s  ", row.get(i)));
            }
            text.append(line.toString().stripTrailing()).append('\n');
        }
        print(out, text.toString());
    }

    private void alert(PrintStream out, Alert a) {
        try {
            if (format == Presenter.Format.JSON) {
                print(out, Json.MAPPER.writeValueAsString(JsonPresenter.alertLine(a)));
            } else {
                String mark = switch (a.state()) {
                    case START -> "!! ALERT ";
                    case UPDATE -> "!! still ";
                    case END -> "!! ended ";
                };
                print(out, mark + CLOCK.format(a.time()) + " " + a.headline());
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
