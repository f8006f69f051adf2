package dev.tcpinspect.ebpf;

import dev.tcpinspect.os.Netns;

/**
 * A cls_bpf filter in a clsact hook. Netlink attachments outlive the process, so this handle
 * remembers the network namespace it was made in and detaches exactly its own filter there on
 * close, whichever thread closes it. A clsact qdisc that this process created is removed again once
 * it carries no filter at all; one that was there before is never touched.
 */
public final class TcLink implements Link {
    private final int ifindex;
    private final TcDirection direction;
    private final TcFilterId id;
    private final int programId;
    private final String program;
    private Netns netns;

    TcLink(int ifindex, TcDirection direction, TcFilterId id, int programId, String program, Netns netns) {
        this.ifindex = ifindex;
        this.direction = direction;
        this.id = id;
        this.programId = programId;
        this.program = program;
        this.netns = netns;
    }

    public int ifindex() {
        return ifindex;
    }

    public TcDirection direction() {
        return direction;
    }

    public int programId() {
        return programId;
    }

    @Override
    public String describe() {
        return "tc " + direction.name().toLowerCase() + " ifindex " + ifindex + " handle " + id.handle()
                + " prio " + id.priority() + " program " + program;
    }

    @Override
    public synchronized void close() {
        if (netns == null) {
            return;
        }
        try {
            netns.run(() -> {
                // Only remove the filter if it is still ours (nobody replaced it since).
                var attached = TcFilters.query(ifindex, direction, id);
                if (attached.isPresent() && attached.get().id() == programId) {
                    TcFilters.detach(ifindex, direction, id);
                }
                TcFilters.releaseClsact(ifindex);
            });
        } finally {
            netns.close();
            netns = null;
        }
    }
}
