package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tcpinspect.snapshot.LogLinearHistogram;
import java.util.List;
import org.junit.jupiter.api.Test;

class HistogramBarsTest {
    @Test
    void rowsPerPowerOfTwoLikeBcc() {
        LogLinearHistogram h = new LogLinearHistogram();
        for (int i = 0; i < 4; i++) {
            h.record(300); // 256 -> 511
        }
        h.record(1000); // 512 -> 1023
        h.record(2000); // 1024 -> 2047
        h.record(2047);
        List<String> lines = HistogramBars.render(h, "usecs");
        assertEquals(List.of(
                "               usecs : count    distribution",
                "       256 -> 511        : 4        |****************************************|",
                "       512 -> 1023       : 1        |**********                              |",
                "      1024 -> 2047       : 2        |********************                    |"), lines);
    }

    @Test
    void emptyDrawsNothing() {
        assertEquals(List.of(), HistogramBars.render(new LogLinearHistogram(), "usecs"));
    }
}
