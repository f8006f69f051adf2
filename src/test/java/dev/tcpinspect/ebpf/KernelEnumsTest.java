package dev.tcpinspect.ebpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

@dev.tcpinspect.testing.RequiresBpf
class KernelEnumsTest {
    /** The kfree_skb tracepoint's format file prints the same enum: every pair must agree. */
    @Test
    void dropReasonsMatchTheTracepointFormat() throws Exception {
        dev.tcpinspect.os.Tracefs.ensureMounted();
        String format = Files.readString(Path.of("/sys/kernel/tracing/events/skb/kfree_skb/format"));
        Map<Long, String> fromBtf = KernelEnums.values("skb_drop_reason", "SKB_DROP_REASON_");
        Matcher m = Pattern.compile("\\{ (\\d+), \"(\\w+)\" \\}").matcher(format);
        int pairs = 0;
        while (m.find()) {
            pairs++;
            assertEquals(m.group(2), fromBtf.get(Long.parseLong(m.group(1))), "value " + m.group(1));
        }
        assertTrue(pairs > 50, "parsed " + pairs + " pairs from the format file");
    }

    @Test
    void unknownEnumIsEmpty() {
        assertTrue(KernelEnums.values("no_such_enum_here", "").isEmpty());
    }
}
