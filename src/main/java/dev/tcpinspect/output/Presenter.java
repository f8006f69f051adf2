package dev.tcpinspect.output;

import dev.tcpinspect.probe.syncount.PacketCounts;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** Shows what a watch sees: text for people, JSON lines for machines. */
public sealed interface Presenter permits TextPresenter, JsonPresenter {
    /** Everything is attached; counting starts now. */
    void ready(Instant time, List<String> interfaces, String hook);

    /** Counts of the interval that just ended. */
    void interval(Instant time, Duration length, PacketCounts delta);

    /** Counts since ready, after everything was detached. */
    void summary(Instant time, Duration length, List<String> interfaces, PacketCounts total);

    static Presenter of(Format format, java.io.PrintStream out) {
        return format == Format.JSON ? new JsonPresenter(out) : new TextPresenter(out);
    }

    enum Format { TEXT, JSON }
}
