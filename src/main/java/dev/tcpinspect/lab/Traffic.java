package dev.tcpinspect.lab;

import dev.tcpinspect.os.Netns;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** Real TCP traffic made with ordinary sockets, from inside a chosen network namespace. */
public final class Traffic {
    private static final int CONNECT_TIMEOUT_MS = 3000;

    private Traffic() {}

    /** A listener that serves each connection on its own virtual thread. */
    public static final class Server implements AutoCloseable {
        private final ServerSocket socket;
        private final Thread acceptor;
        private final java.util.function.Consumer<Socket> handler;

        private Server(ServerSocket socket, java.util.function.Consumer<Socket> handler) {
            this.socket = socket;
            this.handler = handler;
            this.acceptor = Thread.ofPlatform().daemon(true).name("lab-server-" + socket.getLocalPort())
                    .start(this::acceptLoop);
        }

        private void acceptLoop() {
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    Thread.ofVirtual().start(() -> handler.accept(s));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        /** Reads the request to its end (the peer's FIN), answers a line and closes. */
        private static void readThenAnswer(Socket s) {
            try (s; InputStream in = s.getInputStream()) {
                in.transferTo(OutputStream.nullOutputStream());
                s.getOutputStream().write("bye\n".getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                // the peer went away; nothing to report for a lab server
            }
        }

        public int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() {
            try {
                socket.close();
                acceptor.join(2000);
            } catch (IOException | InterruptedException e) {
                // closing anyway
            }
        }
    }

    /** Starts a listener on address:port inside the namespace that reads each request to its end. */
    public static Server listen(Netns ns, String address, int port) {
        return listen(ns, address, port, Server::readThenAnswer);
    }

    /** Starts a listener that sends {@code bytes} bytes on each connection, then closes it. */
    public static Server listenSending(Netns ns, String address, int port, long bytes) {
        return listen(ns, address, port, s -> {
            try (s; OutputStream out = s.getOutputStream()) {
                byte[] chunk = new byte[64 * 1024];
                for (long left = bytes; left > 0; left -= chunk.length) {
                    out.write(chunk, 0, (int) Math.min(chunk.length, left));
                }
            } catch (IOException e) {
                // the peer went away
            }
        });
    }

    /**
     * Starts a listener that reads nothing for {@code pauseMillis}, then reads each connection to its
     * end: the sender fills the receive window and sees it closed until reading starts.
     */
    public static Server listenSlowReader(Netns ns, String address, int port, long pauseMillis) {
        return listen(ns, address, port, s -> {
            try (s) {
                Thread.sleep(pauseMillis);
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
            } catch (IOException | InterruptedException e) {
                // the peer went away
            }
        });
    }

    /** Connects and sends {@code bytes} bytes, then closes; returns once everything was written. */
    public static void upload(Netns ns, String address, int port, long bytes) {
        ns.run(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getByName(address), port), 10_000);
                byte[] chunk = new byte[64 * 1024];
                for (long left = bytes; left > 0; left -= chunk.length) {
                    s.getOutputStream().write(chunk, 0, (int) Math.min(chunk.length, left));
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** Downloads like {@link #download} but reads nothing for {@code pauseMillis} first. */
    public static long slowDownload(Netns ns, String address, int port, long pauseMillis) {
        return ns.call(() -> {
            try (Socket s = new Socket()) {
                s.setReceiveBufferSize(64 * 1024);
                s.connect(new InetSocketAddress(InetAddress.getByName(address), port), 10_000);
                Thread.sleep(pauseMillis);
                return s.getInputStream().transferTo(OutputStream.nullOutputStream());
            }
        });
    }

    /**
     * Starts a listener that aborts each connection with a RST (SO_LINGER 0) once the whole request
     * and the client's FIN arrived: exactly one RST per connection (aborting before the FIN came
     * would answer the late FIN with a second one).
     */
    public static Server listenResetting(Netns ns, String address, int port) {
        return listen(ns, address, port, s -> {
            try (s) {
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
                s.setSoLinger(true, 0);
            } catch (IOException e) {
                // the peer went away
            }
        });
    }

    private static Server listen(Netns ns, String address, int port, java.util.function.Consumer<Socket> handler) {
        return ns.call(() -> {
            ServerSocket socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getByName(address), port), 1024);
            return new Server(socket, handler);
        });
    }

    /** Connects from inside ns and reads until the server closes; returns the bytes read. */
    public static long download(Netns ns, String address, int port) {
        return ns.call(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getByName(address), port), 10_000);
                return s.getInputStream().transferTo(OutputStream.nullOutputStream());
            }
        });
    }

    /**
     * Opens {@code count} connections one after another from inside ns: each sends a line, closes
     * its sending side, reads the reply to the end and closes. Returns how many completed.
     */
    public static int connect(Netns ns, String address, int port, int count) {
        return connectTimed(ns, address, port, count).length;
    }

    /**
     * Connections per second made as {@link #connect} makes them, from {@code clients} threads at once
     * for {@code millis} ms. One client measures what a connection's latency allows; several keep the
     * host's CPUs busy and measure how many connections it can make.
     */
    public static double connectionRate(Netns ns, String address, int port, int clients, long millis) {
        long start = System.nanoTime();
        long end = start + millis * 1_000_000L;
        java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicReference<RuntimeException> failure = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.List<Thread> threads = new java.util.ArrayList<>();
        for (int c = 0; c < clients; c++) {
            threads.add(Thread.ofPlatform().name("lab-client-" + c).start(() -> {
                try {
                    while (System.nanoTime() < end) {
                        done.addAndGet(connect(ns, address, port, 50));
                    }
                } catch (RuntimeException e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while making connections", e);
            }
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        return done.get() / ((System.nanoTime() - start) / 1e9);
    }

    /** Like {@link #connect}, returning how long each connect() took, in nanoseconds. */
    public static long[] connectTimed(Netns ns, String address, int port, int count) {
        return connectTimed(ns, address, port, count, CONNECT_TIMEOUT_MS);
    }

    /**
     * Like {@link #connectTimed(Netns, String, int, int)}, each connect() given timeoutMillis: more
     * than the default 3 s where a handshake may wait for a second retry (1 s, then 2 s more).
     */
    public static long[] connectTimed(Netns ns, String address, int port, int count, int timeoutMillis) {
        return ns.call(() -> {
            long[] nanos = new long[count];
            InetSocketAddress target = new InetSocketAddress(InetAddress.getByName(address), port);
            for (int i = 0; i < count; i++) {
                try (Socket s = new Socket()) {
                    long start = System.nanoTime();
                    s.connect(target, timeoutMillis);
                    nanos[i] = System.nanoTime() - start;
                    s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput();
                    s.getInputStream().transferTo(OutputStream.nullOutputStream());
                }
            }
            return nanos;
        });
    }

    /**
     * Opens {@code count} connections that each send a line and then abort with a RST (SO_LINGER 0
     * close) instead of a FIN. Returns how many were made.
     */
    public static int connectAndReset(Netns ns, String address, int port, int count) {
        return ns.call(() -> {
            int done = 0;
            InetSocketAddress target = new InetSocketAddress(InetAddress.getByName(address), port);
            for (int i = 0; i < count; i++) {
                try (Socket s = new Socket()) {
                    s.connect(target, CONNECT_TIMEOUT_MS);
                    s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                    Thread.sleep(5); // let the data arrive first, so the RST hits an established socket
                    s.setSoLinger(true, 0);
                    done++;
                }
            }
            return done;
        });
    }

    /**
     * Tries {@code count} connections that are expected to get no answer (a firewall drops the SYN);
     * each gives up after timeoutMillis, before the kernel's first SYN retry at 1 s, so each sends
     * exactly one SYN. Returns how many timed out.
     */
    public static int unansweredConnects(Netns ns, String address, int port, int count, int timeoutMillis) {
        if (timeoutMillis >= 1000) {
            throw new IllegalArgumentException("a timeout of 1 s or more lets the kernel retry the SYN");
        }
        return ns.call(() -> {
            int timedOut = 0;
            InetSocketAddress target = new InetSocketAddress(InetAddress.getByName(address), port);
            for (int i = 0; i < count; i++) {
                try (Socket s = new Socket()) {
                    s.connect(target, timeoutMillis);
                } catch (java.net.SocketTimeoutException e) {
                    timedOut++;
                }
            }
            return timedOut;
        });
    }

    /**
     * Sends one SYN to each port in [firstPort, firstPort+count) where nothing listens; the peer
     * answers RST. Returns how many were refused (as expected).
     */
    public static int synToClosedPorts(Netns ns, String address, int firstPort, int count) {
        return ns.call(() -> {
            int refused = 0;
            InetAddress target = InetAddress.getByName(address);
            for (int i = 0; i < count; i++) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(target, firstPort + i), CONNECT_TIMEOUT_MS);
                } catch (ConnectException e) {
                    refused++;
                }
            }
            return refused;
        });
    }
}
