package dev.tcpinspect.lab;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** Stale-lab removal must find the owner of every lab namespace, and never another process's. */
class LabNamesTest {
    @Test
    void ownerOfEveryPidIsReadBack() {
        // Every pid up to the kernel's default pid_max, including those whose base-36 form has an x
        // (16629 is "ctx"): one of those once removed a running test's namespaces.
        for (long pid = 1; pid <= 4_194_304; pid += pid < 100_000 ? 1 : 997) {
            for (String suffix : new String[] {"-srv", "-cli"}) {
                String name = Lab.PREFIX + Long.toString(pid, 36) + "x" + (pid % 50 + 1) + suffix;
                assertEquals(OptionalLong.of(pid), Lab.ownerPid(name), name);
            }
        }
    }

    @Test
    void otherNamesHaveNoOwner() {
        assertTrue(Lab.ownerPid("prod-netns").isEmpty());
        assertTrue(Lab.ownerPid(Lab.PREFIX + "nodigits").isEmpty());
        assertTrue(Lab.ownerPid(Lab.PREFIX + "x3-srv").isEmpty());
    }
}
