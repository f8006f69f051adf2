package dev.tcpinspect.ebpf;

/**
 * Identifies a cls_bpf filter within a clsact hook. A tool picks fixed values so it can find its own
 * filters again (after a crash, say) without touching anyone else's.
 *
 * @param handle the filter handle (non-zero)
 * @param priority the filter priority, 1..65535; lower runs first
 */
public record TcFilterId(int handle, int priority) {
    public TcFilterId {
        if (handle == 0 || priority <= 0 || priority > 0xFFFF) {
            throw new IllegalArgumentException("tc filter needs a non-zero handle and a priority in 1..65535");
        }
    }
}
