package dev.tcpinspect.testing;

import dev.tcpinspect.lab.Lab;

/** Waiting for TCP to fall quiet, so that what a probe counted and what a capture saw can be compared. */
public final class Connections {
    private Connections() {}

    /**
     * Waits (up to 10 s) until the server namespace has no connection still open or closing:
     * after that no retransmission timer can fire and no peer answers it, so nothing arrives that a
     * capture would see after the probe stopped counting.
     */
    public static void settle(Lab lab) throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            String busy = Cmd.run("ip", "netns", "exec", lab.serverNs(), "ss", "-Htn", "state", "connected",
                    "exclude", "time-wait").ok().out().strip();
            if (busy.isEmpty()) {
                return;
            }
            Thread.sleep(100);
        }
    }
}
