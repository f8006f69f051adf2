package dev.tcpinspect.testing;

import dev.tcpinspect.ebpf.BpfObject;

/** Loads one of the jar's BPF objects and says so: for tests that load as another user (setpriv). */
public final class LoadObject {
    private LoadObject() {}

    public static void main(String[] args) {
        try (BpfObject ignored = BpfObject.loadResource(args[0])) {
            System.out.println("loaded " + args[0]);
        }
    }
}
