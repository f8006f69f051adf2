package dev.tcpinspect.ebpf;

/** How an XDP program is attached. */
public enum XdpMode {
    /** Native if the driver supports it, else generic: the kernel chooses. */
    AUTO(0),
    /** In the driver (veth, most physical NICs); fails where the driver lacks XDP. */
    NATIVE(4),
    /** In the core stack after the skb is built: works on every device, slower. */
    GENERIC(2);

    /** XDP_FLAGS_* value for bpf_link_create. */
    final int flags;

    XdpMode(int flags) {
        this.flags = flags;
    }
}
