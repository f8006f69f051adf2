package dev.tcpinspect.os;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SnmpCountersTest {
    @Test
    void parsesNamePairsOfLines() {
        Map<String, Long> c = new HashMap<>();
        SnmpCounters.parse(List.of("TcpExt: SyncookiesSent ListenOverflows ListenDrops", "TcpExt: 0 17 19",
                "IpExt: InNoRoutes", "IpExt: 3"), c);
        assertEquals(Map.of("TcpExt:SyncookiesSent", 0L, "TcpExt:ListenOverflows", 17L, "TcpExt:ListenDrops", 19L,
                "IpExt:InNoRoutes", 3L), c);
    }

    @Test
    void readsThisNamespace() {
        Map<String, Long> c = SnmpCounters.read();
        assertEquals(true, c.containsKey("TcpExt:ListenOverflows"));
        assertEquals(true, c.containsKey("Tcp:RetransSegs"));
    }
}
