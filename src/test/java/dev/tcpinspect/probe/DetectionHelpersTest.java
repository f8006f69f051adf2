package dev.tcpinspect.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The pieces the rate-based detection probes share: their threshold settings and their episode lists. */
class DetectionHelpersTest {
    @Test
    void aRateThresholdTakesItsTwoSettingsAndRefusesTheRest() {
        RateThreshold t = new RateThreshold("syn_rate", 500, 3);
        assertEquals(List.of("syn_rate", "quiet"), t.settings("help").stream().map(Setting::key).toList());
        assertEquals(new RateThreshold("syn_rate", 2000, 3), t.with("flood", "syn_rate", "2000"));
        assertEquals(new RateThreshold("syn_rate", 500, 10), t.with("flood", "quiet", "10"));
        assertNull(t.with("flood", "rate", "1"));
        IllegalArgumentException big = assertThrows(IllegalArgumentException.class, () -> t.with("flood", "quiet", "3601"));
        assertEquals("flood.quiet must be a whole number from 1 to 3600, not '3601'", big.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.with("flood", "syn_rate", "0"));
        assertTrue(t.calm(249));
        assertFalse(t.calm(250));
    }

    @Test
    void anEpisodesEndReplacesItsStartAndTheListKeepsTheLastHundred() {
        EpisodeHistory<String> h = new EpisodeHistory<>();
        h.add("start a", false, e -> false);
        h.add("start b", false, e -> false);
        h.add("end a", true, e -> e.equals("start a"));
        assertEquals(List.of("start b", "end a"), h.list());
        IntStream.range(0, 150).forEach(i -> h.add("start " + i, false, e -> false));
        assertEquals(100, h.list().size());
        assertEquals("start 50", h.list().getFirst());
    }
}
