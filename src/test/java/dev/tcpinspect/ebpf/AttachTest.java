package dev.tcpinspect.ebpf;

import org.junit.jupiter.api.parallel.Isolated;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.os.Libc;
import dev.tcpinspect.os.NetInterfaces;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** Attaches the runtime's test programs to real hooks and checks them with real events. */
@RequiresBpf
// Alone, after the rest (RunsBeside explains the two lanes): it looks host-wide (bpftool) at the tcx links it made in this JVM, which a class loading probes beside it would blur.
@Isolated
class AttachTest {
    private static long hit(BpfObject obj, int slot) {
        return obj.map("hits").typed(Codec.U32, Codec.U64).get(slot).orElseThrow();
    }

    /** Makes inet_sock_set_state fire: a connect to a closed loopback port (SYN_SENT, then CLOSE). */
    private static void socketStateChanges() {
        try (var s = new java.net.Socket()) {
            s.connect(new java.net.InetSocketAddress("127.0.0.1", 9), 1000);
        } catch (java.io.IOException expected) {
            // refused
        }
    }

    private static void assertCountsOnlyWhileAttached(BpfObject obj, int slot, Supplier<Link> attach) {
        Link link = attach.get();
        long before = hit(obj, slot);
        socketStateChanges();
        long during = hit(obj, slot);
        assertTrue(during > before, link.describe() + " fired");
        link.close();
        socketStateChanges();
        assertEquals(during, hit(obj, slot), link.describe() + " stays silent after close");
    }

    @Test
    void tracepointRawTracepointAndTpBtf() {
        try (BpfObject obj = RuntimeTest.openTestObject().load()) {
            assertCountsOnlyWhileAttached(obj, 1,
                    () -> obj.program("rt_tracepoint").attachTracepoint("sock", "inet_sock_set_state"));
            assertCountsOnlyWhileAttached(obj, 2, () -> obj.program("rt_raw_tp").attachRawTracepoint("inet_sock_set_state"));
            assertCountsOnlyWhileAttached(obj, 3, () -> obj.program("rt_tp_btf").attach());
            assertCountsOnlyWhileAttached(obj, 1, () -> obj.program("rt_tracepoint").attach());
        }
    }

    @Test
    void unknownTracepointIsAClearError() {
        try (BpfObject obj = RuntimeTest.openTestObject().load()) {
            BpfException e = org.junit.jupiter.api.Assertions.assertThrows(BpfException.class,
                    () -> obj.program("rt_tracepoint").attachTracepoint("tcp", "no_such_tracepoint"));
            assertEquals("ENOENT", e.errnoName());
            assertTrue(e.getMessage().contains("tcp:no_such_tracepoint"), e.getMessage());
        }
    }

    @Test
    void socketFilterSeesPacketsUntilDetached() {
        int packetSocket = Libc.socket(17 /* AF_PACKET */, 3 /* SOCK_RAW */, 0x0300 /* htons(ETH_P_ALL) */);
        try (BpfObject obj = RuntimeTest.openTestObject().load()) {
            Link link = obj.program("rt_socket").attachSocket(packetSocket);
            long before = hit(obj, 4);
            socketStateChanges();
            long during = hit(obj, 4);
            assertTrue(during >= before + 2, "the SYN and the RST on loopback passed the filter");
            link.close();
            socketStateChanges();
            assertEquals(during, hit(obj, 4));
        } finally {
            Libc.close(packetSocket);
        }
    }

    @Test
    void xdpAndTcAttachmentsCountLabTrafficAndLeaveNothingAfterClose() {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            for (XdpMode mode : new XdpMode[] {XdpMode.NATIVE, XdpMode.GENERIC, XdpMode.AUTO}) {
                try (BpfObject obj = RuntimeTest.openTestObject().load()) {
                    int ifindex = lab.server().call(() -> NetInterfaces.indexOf(lab.serverIf()));
                    KernelLink xdp = lab.server().call(() -> obj.program("rt_xdp").attachXdp(ifindex, mode));
                    TcLink tc = lab.server().call(() -> obj.program("rt_tc").attachTc(ifindex, TcDirection.INGRESS,
                            new TcFilterId(0x7C2, 3), false));
                    String attached = Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf());
                    String expectedMode = mode == XdpMode.GENERIC ? "generic" : "driver"; // veth has native XDP
                    assertTrue(attached.contains("\"mode\":\"" + expectedMode + "\"") && attached.contains("rt_tc"),
                            mode + ": " + attached);
                    // Counted from here: a frame that came between the two attachments (the new lab's
                    // IPv6 neighbour discovery, say) reached XDP only (a CI run: 19 against 18).
                    long[] before = settled(obj);
                    assertEquals(3, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 3));
                    long[] after = settled(obj);
                    long[] runs = {after[0] - before[0], after[1] - before[1]};
                    assertTrue(runs[0] >= 3 * 4, mode + ": XDP saw " + runs[0]);
                    assertTrue(runs[1] >= 3 * 4, "TC saw " + runs[1]);
                    assertEquals(runs[0], runs[1], "XDP passes every frame on to TC ingress");
                    // Closed from this thread, outside the namespace: the handle finds its way back.
                    tc.close();
                    xdp.close();
                    assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
                }
            }
        }
    }

    /**
     * XDP's and TC's counts once no frame has moved for 200 ms: a frame read between the two hooks (the
     * closing handshakes' last ACKs are still on their way when connect returns) is not a lost one.
     */
    private static long[] settled(BpfObject obj) {
        long[] last = {-1, -1};
        for (int i = 0; i < 50; i++) {
            long[] now = {obj.map("percpu_array").perCpu(Codec.U32, Codec.U64).getSummed(0, Long::sum).orElseThrow(),
                    hit(obj, 0)};
            if (java.util.Arrays.equals(now, last)) {
                return now;
            }
            last = now;
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return last;
    }

    @Test
    void tcxLinksCountLabTrafficWithoutAQdiscAndLeaveNothingAfterClose() {
        try (Lab lab = Lab.create(); var server = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080);
             BpfObject obj = RuntimeTest.openTestObject().load()) {
            int ifindex = lab.server().call(() -> NetInterfaces.indexOf(lab.serverIf()));
            KernelLink tcx = lab.server().call(() -> obj.program("rt_tc").attachTcx(ifindex, TcDirection.INGRESS));
            assertEquals(List.of("rt_tc"), Cmd.tcxProgramNames());
            assertFalse(hasClsact(lab), "tcx needs no qdisc");
            assertEquals(3, Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 3));
            assertTrue(hit(obj, 0) >= 3 * 4, "tcx saw " + hit(obj, 0));
            // Closed from this thread, outside the namespace: a link needs no namespace to go.
            tcx.close();
            assertEquals(List.of(), Cmd.tcxProgramNames());
        }
    }

    @Test
    void closingTheObjectDetachesEverything() {
        try (Lab lab = Lab.create()) {
            BpfObject obj = RuntimeTest.openTestObject().load();
            lab.server().run(() -> {
                int ifindex = NetInterfaces.indexOf(lab.serverIf());
                obj.program("rt_xdp").attachXdp(ifindex, XdpMode.AUTO);
                obj.program("rt_tc").attachTc(ifindex, TcDirection.INGRESS, new TcFilterId(0x7C2, 3), false);
                obj.program("rt_tc").attachTc(ifindex, TcDirection.EGRESS, new TcFilterId(0x7C2, 3), false);
            });
            assertFalse(Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()).isEmpty());
            obj.close();
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()));
        }
    }

    private static boolean hasClsact(Lab lab) {
        return Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "qdisc", "show", "dev", lab.serverIf()).ok().out()
                .contains("clsact");
    }

    private static TcLink attachTc(Lab lab, BpfObject obj, TcDirection direction, int handle) {
        return lab.server().call(() -> obj.program("rt_tc").attachTc(NetInterfaces.indexOf(lab.serverIf()), direction,
                new TcFilterId(handle, 3), false));
    }

    @Test
    void aClsactTheAttachCreatedGoesWhenUnusedOneThatWasThereStays() {
        try (Lab lab = Lab.create()) {
            assertFalse(hasClsact(lab));
            try (BpfObject obj = RuntimeTest.openTestObject().load()) {
                attachTc(lab, obj, TcDirection.INGRESS, 0x10);
                attachTc(lab, obj, TcDirection.EGRESS, 0x11);
                assertTrue(hasClsact(lab));
            }
            assertFalse(hasClsact(lab), "created by us, unused now: removed");

            try (BpfObject ours = RuntimeTest.openTestObject().load(); BpfObject theirs = RuntimeTest.openTestObject().load()) {
                TcLink link = attachTc(lab, ours, TcDirection.INGRESS, 0x10);
                attachTc(lab, theirs, TcDirection.EGRESS, 0x20);
                link.close();
                assertTrue(hasClsact(lab), "another filter still uses it");
                assertEquals(1, lab.server().call(() -> TcFilters.count(NetInterfaces.indexOf(lab.serverIf()), TcDirection.EGRESS)));
            }

            Cmd.run("ip", "netns", "exec", lab.serverNs(), "tc", "qdisc", "add", "dev", lab.serverIf(), "clsact").ok();
            try (BpfObject obj = RuntimeTest.openTestObject().load()) {
                attachTc(lab, obj, TcDirection.INGRESS, 0x10);
            }
            assertTrue(hasClsact(lab), "a clsact that was there before is never removed");
            assertEquals(0, lab.server().call(() -> TcFilters.count(NetInterfaces.indexOf(lab.serverIf()), TcDirection.INGRESS)));
        }
    }

    @Test
    void aSecondXdpProgramIsRefusedWithATypedError() {
        try (Lab lab = Lab.create(); BpfObject a = RuntimeTest.openTestObject().load();
             BpfObject b = RuntimeTest.openTestObject().load()) {
            // The runtime says which hook and why; the command line words what to do (Hints, CommandLineTest).
            AttachException e = org.junit.jupiter.api.Assertions.assertThrows(AttachException.class, () -> lab.server().run(() -> {
                int ifindex = NetInterfaces.indexOf(lab.serverIf());
                a.program("rt_xdp").attachXdp(ifindex, XdpMode.AUTO);
                b.program("rt_xdp").attachXdp(ifindex, XdpMode.AUTO);
            }));
            assertEquals(AttachException.Hook.XDP, e.hook());
            assertEquals(dev.tcpinspect.os.Errno.EBUSY, e.errno(), e.getMessage());
        }
    }
}
