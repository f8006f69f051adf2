package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class MainTest {
    @Test
    void oneLineTakesTheFirstLineOfTheMeaningfulMessage() {
        assertEquals("boom", Main.oneLine(new IllegalStateException("boom\nverifier log...")));
        assertEquals("inner", Main.oneLine(new IllegalStateException(new ExecutionException(new RuntimeException("inner")))));
        assertEquals("java.lang.NullPointerException", Main.oneLine(new NullPointerException()));
    }

    @Test
    void secondsConvertToDurations() {
        assertEquals(1500, WatchCommand.seconds(1.5).toMillis());
    }
}
