package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TcFilterIdTest {
    @Test
    void handleAndPriorityMustBeUsable() {
        new TcFilterId(1, 1);
        new TcFilterId(0x7C1, 0xFFFF);
        assertThrows(IllegalArgumentException.class, () -> new TcFilterId(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new TcFilterId(1, 0));
        assertThrows(IllegalArgumentException.class, () -> new TcFilterId(1, 0x10000));
    }
}
