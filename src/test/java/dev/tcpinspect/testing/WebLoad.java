package dev.tcpinspect.testing;

import dev.tcpinspect.lab.Lab;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A small-page web server in the lab's server namespace (nginx, two workers, a 612-byte page like
 * its welcome page, no access log) and the load a gateway sees from outside: wrk from the client
 * namespace, with keep-alive or with a new connection per request, and iperf3 for bulk transfer.
 * For benchmarks: what a user measures when they try tcpinspect beside their web server.
 */
public final class WebLoad implements AutoCloseable {
    public static final int PORT = 80;
    /** Connections wrk keeps open (keep-alive) or opening at once (a connection per request). */
    public static final int CONNECTIONS = 8;

    /** How the load generator talks to the server. */
    public enum Workload {
        /** Every request on a new connection (wrk with "Connection: close"): handshakes, teardowns, TIME_WAIT. */
        CLOSE,
        /** Requests on connections kept open: packets, few state changes. */
        KEEPALIVE,
        /** One iperf3 stream: large segments, throughput. */
        BULK;

        public String label() {
            return switch (this) {
                case CLOSE -> "requests/s, conn per request";
                case KEEPALIVE -> "requests/s, keep-alive";
                case BULK -> "bulk Gbit/s";
            };
        }
    }

    private final Lab lab;
    private final Path dir;
    private final Process nginx;
    private final int port;

    private WebLoad(Lab lab, Path dir, Process nginx, int port) {
        this.lab = lab;
        this.dir = dir;
        this.nginx = nginx;
        this.port = port;
    }

    /** Starts nginx on the lab server's address, port 80; close() stops it and removes its files. */
    public static WebLoad start(Lab lab) {
        return start(lab, PORT);
    }

    /** The same on another port (plain HTTP whatever the port: a policy's served port, for one). */
    public static WebLoad start(Lab lab, int port) {
        Path dir;
        try {
            dir = Files.createTempDirectory("tcpi-web-");
            Files.createDirectories(dir.resolve("html"));
            Files.writeString(dir.resolve("html/index.html"), page());
            Files.writeString(dir.resolve("nginx.conf"), """
                    user root;
                    worker_processes 2;
                    pid %1$s/nginx.pid;
                    error_log %1$s/error.log;
                    events { worker_connections 4096; }
                    http {
                        access_log off;
                        client_body_temp_path %1$s/body;
                        proxy_temp_path %1$s/proxy;
                        fastcgi_temp_path %1$s/fastcgi;
                        uwsgi_temp_path %1$s/uwsgi;
                        scgi_temp_path %1$s/scgi;
                        keepalive_requests 1000000;
                        server {
                            listen %2$s:%3$d backlog=4096;
                            root %1$s/html;
                        }
                    }
                    """.formatted(dir, Lab.SERVER_V4, port));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Process nginx;
        try {
            nginx = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "nginx", "-c",
                    dir.resolve("nginx.conf").toString(), "-g", "daemon off;").redirectErrorStream(true)
                    .redirectOutput(dir.resolve("stdout.log").toFile()).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start nginx (apt-get install nginx): " + e.getMessage(), e);
        }
        WebLoad web = new WebLoad(lab, dir, nginx, port);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "curl", "-sf", "-o", "/dev/null",
                "http://" + Lab.SERVER_V4 + ":" + port + "/"), 10).exit() != 0) {
            if (System.nanoTime() > deadline || !nginx.isAlive()) {
                web.close();
                throw new IllegalStateException("nginx did not serve within 5 s: " + web.log());
            }
            sleep(100);
        }
        return web;
    }

    /** Runs the workload for that many seconds; requests per second, or Gbit/s for BULK. */
    public double run(Workload workload, int seconds) {
        return workload == Workload.BULK ? bulk(seconds) : requests(workload == Workload.CLOSE, seconds);
    }

    private double requests(boolean close, int seconds) {
        Requests r = wrk(close, seconds);
        if (r.errors() > 0) {
            throw new IllegalStateException("wrk saw errors: " + r.output());
        }
        return r.perSecond();
    }

    /** What one wrk run did: requests a second, and failed connects plus non-2xx/3xx responses. */
    public record Requests(double perSecond, long errors, String output) {}

    /** One wrk run that reports its errors instead of failing on them (beside a flood, for one). */
    public Requests wrk(boolean close, int seconds) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", lab.clientNs(), "wrk", "-t", "1", "-c",
                Integer.toString(CONNECTIONS), "-d", seconds + "s"));
        if (close) {
            cmd.addAll(List.of("-H", "Connection: close"));
        }
        cmd.add("http://" + Lab.SERVER_V4 + ":" + port + "/");
        Cmd.Result r = Cmd.run(cmd, seconds + 30).ok();
        Matcher m = Pattern.compile("Requests/sec:\\s+([\\d.]+)").matcher(r.out());
        if (!m.find()) {
            throw new IllegalStateException("wrk said: " + r.out() + r.err());
        }
        long errors = 0;
        Matcher e = Pattern.compile("Non-2xx or 3xx responses: (\\d+)|Socket errors: connect (\\d+)").matcher(r.out());
        while (e.find()) {
            errors += Long.parseLong(e.group(1) != null ? e.group(1) : e.group(2));
        }
        return new Requests(Double.parseDouble(m.group(1)), errors, r.out());
    }

    private double bulk(int seconds) {
        Process server;
        try {
            server = new ProcessBuilder("ip", "netns", "exec", lab.serverNs(), "iperf3", "-s", "-1", "-B", Lab.SERVER_V4)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            sleep(300);
            Cmd.Result r = Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "iperf3", "-c", Lab.SERVER_V4, "-t",
                    Integer.toString(seconds), "-f", "g"), seconds + 30);
            Matcher m = Pattern.compile("([\\d.]+) Gbits/sec\\s+receiver").matcher(r.out());
            if (!m.find()) {
                throw new IllegalStateException("iperf3 said: " + r.out() + r.err());
            }
            return Double.parseDouble(m.group(1));
        } finally {
            server.destroy();
        }
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("stdout.log")) + Files.readString(dir.resolve("error.log"));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    /** A page the size of nginx's welcome page. */
    private static String page() {
        String head = "<!DOCTYPE html><html><head><title>tcpinspect lab</title></head><body><p>";
        String tail = "</p></body></html>\n";
        return head + "x".repeat(612 - head.length() - tail.length()) + tail;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        nginx.destroy(); // SIGTERM: nginx's master stops its workers
        try {
            if (!nginx.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                nginx.destroyForcibly();
            }
            // The workers are the master's children: make sure none outlives it in the lab's namespace.
            for (String pid : Cmd.run(List.of("ip", "netns", "pids", lab.serverNs()), 10).out().split("\\s+")) {
                ProcessHandle.of(pid.isBlank() ? -1 : Long.parseLong(pid))
                        .filter(h -> h.info().command().orElse("").endsWith("/nginx"))
                        .ifPresent(ProcessHandle::destroyForcibly);
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // best effort: a temporary directory
        }
    }
}
