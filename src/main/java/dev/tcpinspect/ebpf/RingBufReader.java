package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads a BPF ring buffer by mapping its pages, as cilium/ebpf does: no upcall per record and no
 * allocation per record. The consumer position page is mapped read-write, the producer position
 * page and the data area (mapped twice back to back by the kernel, so a record never wraps) read-only.
 * Records are handed to the handler as (segment, offset, length) and must be copied out if kept.
 */
public final class RingBufReader implements AutoCloseable {
    /** Called on the reader thread for each record. Must not keep the segment beyond the call. */
    @FunctionalInterface
    public interface Handler {
        void onRecord(MemorySegment data, long offset, int length);
    }

    private static final int BUSY_BIT = 1 << 31;
    private static final int DISCARD_BIT = 1 << 30;
    private static final int HEADER_SIZE = 8;
    private static final VarHandle LONG_AT = JAVA_LONG.varHandle();
    private static final VarHandle INT_AT = JAVA_INT.varHandle();
    private static final long PAGE_SIZE = pageSize();

    private final String name;
    private final Handler handler;
    private final MemorySegment consumerPage;
    private final MemorySegment producerArea;
    private final long mask;
    private final int epollFd;
    private final MemorySegment epollEvents;
    private final Arena arena = Arena.ofShared();
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile boolean running;
    private Thread thread;
    private volatile Throwable lastFailure;

    /** Maps the ring buffer; call {@link #start()} for a reader thread or {@link #poll(int)} yourself. */
    public RingBufReader(BpfMap ring, Handler handler) {
        if (ring.type() != MapType.RINGBUF) {
            throw new IllegalArgumentException(ring + " is not a ring buffer");
        }
        this.name = ring.name();
        this.handler = handler;
        long size = Integer.toUnsignedLong(ring.maxEntries());
        this.mask = size - 1;
        this.consumerPage = Libc.mmap(PAGE_SIZE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, ring.fd(), 0);
        MemorySegment producer;
        try {
            producer = Libc.mmap(PAGE_SIZE + 2 * size, Libc.PROT_READ, Libc.MAP_SHARED, ring.fd(), PAGE_SIZE);
        } catch (RuntimeException e) {
            Libc.munmap(consumerPage);
            throw e;
        }
        this.producerArea = producer;
        this.epollFd = Libc.epollCreate();
        Libc.epollAdd(epollFd, ring.fd());
        this.epollEvents = arena.allocate(12 * 4, 8);
    }

    private static long pageSize() {
        // The ring buffer pages are kernel pages: 4 KiB on x86_64 and most arm64 systems.
        String override = System.getProperty("tcpinspect.pageSize");
        return override != null ? Long.parseLong(override) : 4096;
    }

    public synchronized RingBufReader start() {
        if (thread == null) {
            running = true;
            thread = Thread.ofPlatform().daemon(true).name("ringbuf-" + name).start(this::loop);
        }
        return this;
    }

    /**
     * How long the reader thread sleeps when nothing woke it. Producers may submit without waking
     * the reader (batching wakeups under load), so this bounds how late a record is read.
     */
    private static final int POLL_MILLIS = 50;

    private void loop() {
        while (running) {
            try {
                poll(POLL_MILLIS);
            } catch (Throwable t) {
                lastFailure = t; // never let the thread die silently; close() reports it
                running = false;
            }
        }
    }

    /**
     * Delivers every record available, waiting up to timeoutMillis for one when there are none.
     * Returns the number of records consumed (delivered or failed).
     */
    public int poll(int timeoutMillis) {
        int n = drain();
        if (n == 0 && timeoutMillis != 0) {
            Libc.epollWait(epollFd, epollEvents, 4, timeoutMillis);
            n = drain();
        }
        return n;
    }

    private int drain() {
        long consumer = (long) LONG_AT.getAcquire(consumerPage, 0L);
        int count = 0;
        while (true) {
            long producer = (long) LONG_AT.getAcquire(producerArea, 0L);
            if (consumer >= producer) {
                return count;
            }
            long at = PAGE_SIZE + (consumer & mask);
            int header = (int) INT_AT.getAcquire(producerArea, at);
            if ((header & BUSY_BIT) != 0) {
                return count; // reserved but not yet submitted: come back later
            }
            int length = header & ~(BUSY_BIT | DISCARD_BIT);
            if ((header & DISCARD_BIT) == 0) {
                try {
                    handler.onRecord(producerArea, at + HEADER_SIZE, length);
                    delivered.incrementAndGet();
                } catch (Throwable t) {
                    failed.incrementAndGet();
                    lastFailure = t;
                }
            }
            consumer += (length + HEADER_SIZE + 7) & ~7L;
            LONG_AT.setRelease(consumerPage, 0L, consumer);
            count++;
        }
    }

    /** Records handed to the handler without it throwing. */
    public long delivered() {
        return delivered.get();
    }

    /** Records the handler threw on: read from the ring but not delivered. */
    public long failed() {
        return failed.get();
    }

    /** The last exception thrown by the handler or the reader loop, if any. */
    public Throwable lastFailure() {
        return lastFailure;
    }

    private boolean closed;

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            running = false;
            t = thread;
            thread = null;
        }
        if (t != null) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        drain(); // records submitted without a wakeup since the last poll
        Libc.munmap(consumerPage);
        Libc.munmap(producerArea);
        Libc.close(epollFd);
        arena.close();
    }
}
