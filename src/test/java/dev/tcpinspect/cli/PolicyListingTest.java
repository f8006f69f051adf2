package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** How policy check and show list prefixes: all of a short list, the first twenty of a long one and a count. */
class PolicyListingTest {
    @Test
    void shortListsInFullLongOnesCutWithACount() {
        assertEquals("none", PolicyCommand.listed(List.of(), false));
        assertEquals("10.0.0.0/8, 192.0.2.0/24", PolicyCommand.listed(List.of("10.0.0.0/8", "192.0.2.0/24"), false));
        List<String> many = IntStream.range(0, 34_258).mapToObj(i -> "10.0." + i / 256 % 256 + "." + i % 256 + "/32").toList();
        String cut = PolicyCommand.listed(many, false);
        assertEquals(String.join(", ", many.subList(0, 20)) + ", ... and 34,238 more (34,258 in all; --all lists them)", cut);
        assertEquals(String.join(", ", many), PolicyCommand.listed(many, true));
        assertEquals(String.join(", ", many.subList(0, 20)), PolicyCommand.listed(many.subList(0, 20), false));
    }
}
