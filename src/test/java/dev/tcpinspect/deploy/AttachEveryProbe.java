package dev.tcpinspect.deploy;

import dev.tcpinspect.probe.ProbeSet;
import dev.tcpinspect.probe.registry.ProbeRegistry;
import java.util.List;

/**
 * What the agent does at its start, without its own check of the capabilities first: every probe
 * loaded and attached to one interface, read once, detached. Prints "attached" and exits 0, or
 * prints what the kernel refused and exits 3: for tests that run it as another user (setpriv), to
 * show which capabilities the kernel itself asks for.
 */
public final class AttachEveryProbe {
    private AttachEveryProbe() {}

    public static void main(String[] args) {
        try (ProbeSet set = ProbeSet.start(ProbeRegistry.all(), ProbeSet.Options.defaults().interfaces(List.of(args[0])))) {
            set.read(true);
            System.out.println("attached " + set.names());
        } catch (RuntimeException | Error e) {
            System.out.println("refused: " + e.getMessage().lines().findFirst().orElse(e.toString()));
            System.exit(3);
        }
    }
}
