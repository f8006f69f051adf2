package dev.tcpinspect.output;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tcpinspect.probe.syncount.PacketCounts;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * One JSON object per line. Every line has "type" and "time" (RFC 3339, UTC). Field names are a
 * contract: later versions add fields, never rename them.
 */
public final class JsonPresenter implements Presenter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final PrintStream out;

    public JsonPresenter(PrintStream out) {
        this.out = out;
    }

    public static String time(Instant t) {
        return t.truncatedTo(ChronoUnit.MILLIS).toString();
    }

    public static ObjectNode line(String type, Instant time) {
        ObjectNode node = JSON.createObjectNode();
        node.put("type", type);
        node.put("time", time(time));
        return node;
    }

    private void emit(ObjectNode node) {
        out.println(node.toString());
        out.flush();
    }

    @Override
    public void ready(Instant time, List<String> interfaces, String hook) {
        ObjectNode node = line("ready", time);
        interfaces.forEach(node.putArray("interfaces")::add);
        node.put("hook", hook);
        emit(node);
    }

    @Override
    public void interval(Instant time, Duration length, PacketCounts delta) {
        ObjectNode node = line("interval", time);
        node.put("seconds", length.toMillis() / 1000.0);
        counts(node, delta);
        emit(node);
    }

    @Override
    public void summary(Instant time, Duration length, List<String> interfaces, PacketCounts total) {
        ObjectNode node = line("summary", time);
        interfaces.forEach(node.putArray("interfaces")::add);
        node.put("seconds", length.toMillis() / 1000.0);
        counts(node, total);
        emit(node);
    }

    /** Adds "packets" and "syn_by_port" (ports as string keys, ascending). */
    static void counts(ObjectNode node, PacketCounts c) {
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

    public static void print(PrintStream out, ObjectNode node) {
        out.println(node.toString());
        out.flush();
    }
}
