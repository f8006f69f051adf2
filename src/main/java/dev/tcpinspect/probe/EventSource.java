package dev.tcpinspect.probe;

/** A probe that delivers ring-buffer events to a consumer. */
public interface EventSource {
    /** Events read from the ring that the consumer threw on: read but not shown, so reported. */
    long eventsFailed();
}
