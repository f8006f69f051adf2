package dev.tcpinspect.output;

import dev.tcpinspect.probe.Reading;
import dev.tcpinspect.probe.conn.ConnEvent;
import dev.tcpinspect.probe.drops.DropEvent;
import dev.tcpinspect.probe.dupack.DupAckEvent;
import dev.tcpinspect.probe.rtt.RttEvent;
import dev.tcpinspect.probe.zerowin.ZeroWindowEvent;
import dev.tcpinspect.probe.handshake.HandshakeEvent;
import dev.tcpinspect.probe.reset.ResetEvent;
import dev.tcpinspect.probe.retrans.RetransmitEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** Shows what a watch sees: text for people, JSON lines for machines. Safe to call from several threads. */
public sealed interface Presenter permits TextPresenter, JsonPresenter {
    /**
     * Whether this presenter shows events one by one. The table shows counters and aggregates
     * only, so its probes are loaded without events and the kernel makes none.
     */
    boolean wantsEvents();

    /** Everything is attached; counting starts now. */
    void ready(Instant time, List<String> interfaces, String hook, List<String> probes);

    /** Counts of the interval that just ended. */
    void interval(Instant time, Duration length, Reading delta);

    /** Counts since ready, after everything was detached. */
    void summary(Instant time, Duration length, List<String> interfaces, Reading total);

    /** One retransmission (called on the ring-buffer reader thread; the event is only valid during the call). */
    void retransmit(RetransmitEvent event);

    /** One reset sent or received (called on the ring-buffer reader thread). */
    void reset(ResetEvent event);

    /** One dropped TCP packet (called on the ring-buffer reader thread). */
    void drop(DropEvent event);

    /** One TCP state change (called on the ring-buffer reader thread). */
    void conn(ConnEvent event);

    /** One completed handshake (called on the ring-buffer reader thread). */
    void handshake(HandshakeEvent event);

    /** One duplicate ACK received (called on the ring-buffer reader thread). */
    void dupack(DupAckEvent event);

    /** A window closing or opening again (called on the ring-buffer reader thread). */
    void zeroWindow(ZeroWindowEvent event);

    /** A sampled RTT (called on the ring-buffer reader thread). */
    void rtt(RttEvent event);

    static Presenter of(Format format, java.io.PrintStream out) {
        return format == Format.JSON ? new JsonPresenter(out) : new TextPresenter(out);
    }

    enum Format { TEXT, JSON }
}
