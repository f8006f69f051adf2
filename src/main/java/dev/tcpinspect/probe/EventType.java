package dev.tcpinspect.probe;

import dev.tcpinspect.snapshot.EventFields;
import java.io.IOException;
import java.util.function.Supplier;

/**
 * A kind of event a probe makes: its name in output ("retransmit"), the ring it arrives in, a
 * factory of reusable views over its records, and how a record writes the fields of its kind.
 * Outputs write what every event has (type, time, flow) and leave the rest to {@link #writer}.
 */
public record EventType<V extends EventView>(String name, String ring, Supplier<V> views, Writer<V> writer) {
    /** Writes an event's own fields; no allocation (see {@link EventFields}). */
    @FunctionalInterface
    public interface Writer<V> {
        void write(V event, EventFields out) throws IOException;
    }

    /** Writes the fields of an event known to be of this type. */
    @SuppressWarnings("unchecked")
    public void write(EventView event, EventFields out) throws IOException {
        writer.write((V) event, out);
    }
}
