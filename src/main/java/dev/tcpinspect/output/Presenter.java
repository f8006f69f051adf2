package dev.tcpinspect.output;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Reading;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * Shows what a watch sees: a line table or a full-screen live view for people, JSON lines for
 * machines. Renders any probe's self-describing snapshots and events without knowing the probe.
 * Safe to call from the watch's thread and the event reader's thread at once.
 */
public sealed interface Presenter extends AutoCloseable permits TextPresenter, JsonPresenter, LivePresenter {
    /**
     * Whether this presenter shows events one by one. The table shows counters and aggregates
     * only, so its probes are loaded without events and the kernel makes none.
     */
    boolean wantsEvents();

    /**
     * Whether each interval's reading should carry the probes' tables (top flows, per-port
     * histograms), which cost a walk of their tables; otherwise only the summary's does.
     */
    default boolean wantsTables() {
        return false;
    }

    /** Everything is attached; counting starts now. */
    void ready(Instant time, List<String> interfaces, String hook, List<String> probes);

    /** Counts of the interval that just ended. */
    void interval(Instant time, Duration length, Reading delta);

    /** Counts since ready, after everything was detached. */
    void summary(Instant time, Duration length, List<String> interfaces, Reading total);

    /** An alert starting, changing or ending (from the event reader's thread or the watch's). */
    void alert(dev.tcpinspect.snapshot.Alert alert);

    /**
     * Whether the output is gone: its reader closed it (`watch | head`), so a write failed. A watch
     * then stops quietly, as tcpdump ends on SIGPIPE (the JVM ignores SIGPIPE; its streams keep the error).
     */
    boolean outputGone();

    /** One event (on the event reader's thread; the view is only valid during the call). */
    void event(EventType<?> type, EventView event);

    /** A line for people about the watch itself (an interface gone): on stderr, or in the live view. */
    default void notice(String line) {
        System.err.println(line);
    }

    /** Gives back what the output took (the terminal of the live view); the others hold nothing. */
    @Override
    default void close() {}

    static Presenter of(Format format, java.io.PrintStream out) {
        return of(format, out, TextPresenter.DEFAULT_WIDTH, false);
    }

    /**
     * JSON lines, or the line table no wider than width; terminal: out is one, where the summary's
     * wide lines take a shorter form.
     */
    static Presenter of(Format format, java.io.PrintStream out, int width, boolean terminal) {
        return format == Format.JSON ? new JsonPresenter(out) : new TextPresenter(out, width, terminal);
    }

    enum Format { TEXT, JSON }
}
