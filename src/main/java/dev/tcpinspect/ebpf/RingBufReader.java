package dev.tcpinspect.ebpf;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.tcpinspect.os.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads BPF ring buffers by mapping their pages, as cilium/ebpf's ringbuf.Reader does: no upcall
 * and no allocation per record. One reader serves any number of rings from one thread, woken by
 * epoll on all of them, so that the consumers of every ring run on that one thread and need no lock
 * between them. For each ring the consumer position page is mapped read-write, the producer position
 * page and the data area (mapped twice back to back by the kernel, so a record never wraps)
 * read-only. Records are handed to the ring's handler as (segment, offset, length) and must be
 * copied out if kept.
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
    private static final int MAX_EVENTS = 16;
    /** struct epoll_event is packed on x86_64: u32 events, u64 data. */
    private static final int EPOLL_EVENT_SIZE = 12;

    /** One mapped ring and its handler. */
    private static final class Ring {
        final String name;
        final Handler handler;
        final MemorySegment consumerPage;
        final MemorySegment producerArea;
        final long mask;
        final long page;

        Ring(BpfMap map, Handler handler, long page) {
            this.name = map.name();
            this.handler = handler;
            this.page = page;
            long size = Integer.toUnsignedLong(map.maxEntries());
            this.mask = size - 1;
            this.consumerPage = Libc.mmap(page, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, map.fd(), 0);
            try {
                this.producerArea = Libc.mmap(page + 2 * size, Libc.PROT_READ, Libc.MAP_SHARED, map.fd(), page);
            } catch (RuntimeException e) {
                Libc.munmap(consumerPage);
                throw e;
            }
        }

        void unmap() {
            Libc.munmap(consumerPage);
            Libc.munmap(producerArea);
        }
    }

    private final long pageSize = Libc.pageSize();
    private final CopyOnWriteArrayList<Ring> rings = new CopyOnWriteArrayList<>();
    private final int epollFd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment epollEvents;
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile boolean running;
    private Thread thread;
    private volatile Throwable lastFailure;
    private boolean closed;

    /** A reader of no ring yet: {@link #add} rings, then {@link #start()} its thread or {@link #poll} yourself. */
    public RingBufReader() {
        this.epollFd = Libc.epollCreate();
        this.epollEvents = arena.allocate((long) EPOLL_EVENT_SIZE * MAX_EVENTS, 8);
    }

    /** A reader of one ring. */
    public RingBufReader(BpfMap ring, Handler handler) {
        this();
        try {
            add(ring, handler);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Maps a ring and delivers its records to handler from now on (also while the reader thread
     * runs). The ring's size must be a power of two and a multiple of the page size, as the kernel
     * makes them.
     */
    public RingBufReader add(BpfMap ring, Handler handler) {
        if (ring.type() != MapType.RINGBUF) {
            throw new IllegalArgumentException(ring + " is not a ring buffer");
        }
        long size = Integer.toUnsignedLong(ring.maxEntries());
        if (Long.bitCount(size) != 1 || size % pageSize != 0) {
            throw new IllegalArgumentException(ring + " has " + size + " bytes: a ring buffer's size is a power of two"
                    + " and a multiple of the page size (" + pageSize + ")");
        }
        Ring mapped = new Ring(ring, handler, pageSize);
        try {
            Libc.epollAdd(epollFd, ring.fd());
        } catch (RuntimeException e) {
            mapped.unmap();
            throw e;
        }
        rings.add(mapped);
        return this;
    }

    /** How many rings are read. */
    public int rings() {
        return rings.size();
    }

    public synchronized RingBufReader start() {
        if (thread == null) {
            running = true;
            thread = Thread.ofPlatform().daemon(true).name("ringbuf-reader").start(this::loop);
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
     * Delivers every record available in every ring, waiting up to timeoutMillis for one when there
     * are none. Returns the number of records consumed (delivered or failed).
     */
    public int poll(int timeoutMillis) {
        int n = drainAll();
        if (n == 0 && timeoutMillis != 0) {
            Libc.epollWait(epollFd, epollEvents, MAX_EVENTS, timeoutMillis);
            n = drainAll();
        }
        return n;
    }

    private int drainAll() {
        int n = 0;
        for (Ring ring : rings) {
            n += drain(ring);
        }
        return n;
    }

    private int drain(Ring ring) {
        long consumer = (long) LONG_AT.getAcquire(ring.consumerPage, 0L);
        int count = 0;
        int handled = 0; // added to delivered once per drain, not once per record
        try {
            while (true) {
                long producer = (long) LONG_AT.getAcquire(ring.producerArea, 0L);
                if (consumer >= producer) {
                    return count;
                }
                long at = ring.page + (consumer & ring.mask);
                int header = (int) INT_AT.getAcquire(ring.producerArea, at);
                if ((header & BUSY_BIT) != 0) {
                    return count; // reserved but not yet submitted: come back later
                }
                int length = header & ~(BUSY_BIT | DISCARD_BIT);
                if ((header & DISCARD_BIT) == 0) {
                    try {
                        ring.handler.onRecord(ring.producerArea, at + HEADER_SIZE, length);
                        handled++;
                    } catch (Throwable t) {
                        failed.incrementAndGet();
                        lastFailure = t;
                    }
                }
                // Published record by record, as libbpf does: the kernel reuses the space at once.
                consumer += (length + HEADER_SIZE + 7) & ~7L;
                LONG_AT.setRelease(ring.consumerPage, 0L, consumer);
                count++;
            }
        } finally {
            delivered.addAndGet(handled);
        }
    }

    /** Records handed to a handler without it throwing. */
    public long delivered() {
        return delivered.get();
    }

    /** Records a handler threw on: read from a ring but not delivered. */
    public long failed() {
        return failed.get();
    }

    /** The last exception thrown by a handler or the reader loop, if any. */
    public Throwable lastFailure() {
        return lastFailure;
    }

    /** Stops the thread, delivers what is still in the rings, and unmaps them. */
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
        try {
            drainAll(); // records submitted without a wakeup since the last poll
        } finally {
            for (Ring ring : rings) {
                ring.unmap();
            }
            rings.clear();
            Libc.close(epollFd);
            arena.close();
        }
    }
}
