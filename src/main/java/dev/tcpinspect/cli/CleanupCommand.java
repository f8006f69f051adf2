package dev.tcpinspect.cli;

import dev.tcpinspect.ebpf.ProgramInfo;
import dev.tcpinspect.ebpf.TcFilters;
import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.os.Claim;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.os.Privileges;
import dev.tcpinspect.probe.TcSlots;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(name = "cleanup", mixinStandardHelpOptions = true,
        description = {
            "Remove what a tcpinspect that was killed (kill -9, a crash) left behind in this network",
            "namespace: its clsact tc filters (--tc-mode clsact, or a kernel without tcx; recognised by",
            "their slot and their program names, which start with tcpi_) and demo labs whose process is",
            "gone, and the socket filter a killed 'watch --socket' left on a service's listener and",
            "connections (recorded in /run/tcpinspect/sockets while the watch runs). Touches nothing",
            "else. tcx and XDP programs of watch need no clean-up: tcpinspect attaches them as links,",
            "which the kernel removes with the process. 'watch' removes its",
            "clsact leftovers on the interfaces it is about to watch, so it never stacks a copy. An",
            "enforcer outlives its process on purpose and is left alone ('tcpinspect enforce stop'",
            "removes it), unless its namespace was deleted (its process, interfaces and namespace gone);",
            "the XDP probes of a watch killed behind one (in any namespace) are taken out of its",
            "hand-off, as the next watch --xdp there would do."})
final class CleanupCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        if (!Privileges.current().canInspectOthersPrograms()) {
            throw new IllegalStateException("cleanup: this needs root: run it with sudo (telling tcpinspect's filters"
                    + " from other tools' means reading which program each runs, which takes CAP_SYS_ADMIN)");
        }
        int removed = 0;
        for (String name : NetInterfaces.all()) {
            int ifindex;
            try {
                ifindex = NetInterfaces.indexOf(name);
            } catch (IllegalArgumentException gone) {
                continue;
            }
            for (TcSlots.Slot slot : TcSlots.ALL) {
                Optional<ProgramInfo> ours = TcSlots.owned(ifindex, slot);
                if (ours.isEmpty()) {
                    continue;
                }
                Optional<Claim> free = Claim.tryTake(TcSlots.claimName(ifindex, slot));
                if (free.isEmpty()) {
                    System.out.printf("left alone: tc %s filter of %s (program %s, id %d), in use by a running tcpinspect%n",
                            slot.direction().name().toLowerCase(), name, ours.get().name(), ours.get().id());
                    continue;
                }
                free.get().close();
                if (TcFilters.detach(ifindex, slot.direction(), slot.id())) {
                    System.out.printf("removed tc %s filter of %s (program %s, id %d)%n",
                            slot.direction().name().toLowerCase(), name, ours.get().name(), ours.get().id());
                    removed++;
                }
            }
        }
        for (java.nio.file.Path enforcer : enforcerFolders()) {
            if (dev.tcpinspect.enforce.Enforcer.abandoned(enforcer)
                    && dev.tcpinspect.enforce.Enforcer.removeIf(enforcer, dev.tcpinspect.enforce.Enforcer::abandoned)) {
                System.out.println("removed the enforcer a deleted network namespace left in " + enforcer + " (its process,"
                        + " interfaces and namespace are gone; its connection counting was still attached)");
                removed++;
                continue;
            }
            var namespace = dev.tcpinspect.enforce.Enforcer.namespaceOf(enforcer);
            // the slot's holder is known by a name in the enforcer's namespace (os.Claim): looked up there
            if (namespace.isPresent() && clearAbandoned(namespace.get(), enforcer)) {
                System.out.println("removed the XDP probes a killed watch left behind the enforcer of " + enforcer);
                removed++;
            }
        }
        for (String line : dev.tcpinspect.os.ForeignSockets.removeLeftovers()) {
            System.out.println(line);
            removed++;
        }
        Lab.removeStale();
        System.out.println(removed == 0 ? "nothing of tcpinspect's was attached" : "removed " + removed + " leftover(s)");
        return 0;
    }

    private static boolean clearAbandoned(java.nio.file.Path namespace, java.nio.file.Path enforcer) {
        try (dev.tcpinspect.os.Netns ns = dev.tcpinspect.os.Netns.of(namespace)) {
            return ns.call(() -> dev.tcpinspect.enforce.EnforcerHandoff.clearAbandoned(enforcer));
        } catch (RuntimeException vanished) {
            return false; // the namespace went meanwhile
        }
    }

    /** Every namespace's enforcer folder. */
    private static java.util.List<java.nio.file.Path> enforcerFolders() {
        try (var folders = java.nio.file.Files.list(dev.tcpinspect.enforce.Enforcer.ROOT)) {
            return folders.toList();
        } catch (java.io.IOException none) {
            return java.util.List.of();
        }
    }
}
