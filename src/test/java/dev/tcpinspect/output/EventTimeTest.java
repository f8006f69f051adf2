package dev.tcpinspect.output;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Random;
import org.junit.jupiter.api.Test;

class EventTimeTest {
    private static final DateTimeFormatter RFC3339_MILLIS =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** Against java.time's formatter, over ascending times (the cached second) and jumps across days and years. */
    @Test
    void writesWhatJavaTimeWrites() {
        EventTime time = new EventTime();
        char[] text = new char[EventTime.LENGTH];
        Random random = new Random(11);
        long millis = Instant.parse("1999-12-31T23:59:58.990Z").toEpochMilli();
        for (int i = 0; i < 20_000; i++) {
            millis += i % 100 == 0 ? random.nextLong(400L * 86_400_000L) : random.nextInt(7);
            String expected = RFC3339_MILLIS.format(Instant.ofEpochMilli(millis));
            assertEquals(expected, new String(text, 0, time.writeEpochMillis(millis, text)));
        }
    }

    @Test
    void monotonicTimestampsBecomeNow() {
        char[] text = new char[EventTime.LENGTH];
        new EventTime().write(System.nanoTime(), text);
        long written = Instant.parse(new String(text)).toEpochMilli();
        assertEquals(System.currentTimeMillis(), written, 1000.0);
    }
}
