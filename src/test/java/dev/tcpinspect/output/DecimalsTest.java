package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class DecimalsTest {
    /** What Java writes for the double (Jackson writes doubles with Double.toString) is the oracle. */
    @Test
    void writesWhatJavaWritesForTheDouble() {
        Random random = new Random(5);
        char[] text = new char[Decimals.MAX_LENGTH];
        for (int i = 0; i < 100_000; i++) {
            long value = switch (i % 4) {
                case 0 -> random.nextInt(2_000);
                case 1 -> random.nextInt(10_000_000);
                case 2 -> random.nextInt(1_000) * 1000L;
                default -> random.nextLong(9_000_000_000L);
            };
            int decimals = i % 2 == 0 ? 3 : 6;
            String expected = Double.toString(value / (decimals == 3 ? 1e3 : 1e6));
            int start = Decimals.writeScaled(value, decimals, text);
            assertEquals(expected, new String(text, start, text.length - start), value + " / 10^" + decimals);
        }
    }
}
