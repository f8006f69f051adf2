package dev.tcpinspect.snapshot;

import java.io.IOException;

/**
 * Where an event writes the fields of its own kind, after the output has written what every event
 * has (type, time, and the flow). Implemented by outputs that show events one by one; called on the
 * event reader's thread tens of thousands of times a second, so nothing here allocates: names are
 * constants, texts are constants or names the probe already holds.
 */
public interface EventFields {
    void text(String name, String value) throws IOException;

    void number(String name, long value) throws IOException;

    /** value / 10^decimals as a decimal number: microseconds as milliseconds is (value, 3). */
    void scaled(String name, long value, int decimals) throws IOException;

    /** UTF-8 bytes (a command name) as a string, without making one when they are ASCII. */
    void utf8(String name, byte[] bytes, int length) throws IOException;
}
