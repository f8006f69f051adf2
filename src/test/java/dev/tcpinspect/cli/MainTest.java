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
    void aMessageIsPrintableOnOneLine() {
        assertEquals("'a\\x0ab\\x0dc\\x85d\\u2028e\\x1b[31m' é", Main.printable("'a\nb\rc\u0085d\u2028e\u001b[31m' é"));
        String huge = Main.printable("x".repeat(100_000));
        assertEquals("x".repeat(500) + "...", huge);
        assertEquals(1, Main.printable("a\u000bb\u000cc").lines().count());
        assertEquals("y".repeat(500), Main.printable("y".repeat(500)), "not cut: no ellipsis");
        assertEquals("\\u202eabc", Main.printable("\u202eabc"), "a bidi control is escaped");
    }

    @Test
    void inputRefusedIsExitTwoAndOtherFailuresOne() {
        assertEquals(true, Main.refusedInput(new dev.tcpinspect.os.InputRefusedException("no network interface named 'x'")));
        assertEquals(true, Main.refusedInput(new IllegalStateException(new ExecutionException(
                new dev.tcpinspect.os.InputRefusedException("bad")))));
        assertEquals(false, Main.refusedInput(new IllegalArgumentException("object has no map x")), "a broken invariant");
        assertEquals(false, Main.refusedInput(new IllegalStateException("watch: this needs root")));
    }

    @Test
    void secondsConvertToDurations() {
        assertEquals(1500, WatchCommand.seconds(1.5).toMillis());
    }
}
