package dev.tcpinspect.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import dev.tcpinspect.output.JsonPresenter;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The agent's HTTP endpoint, on the JDK's own server: /metrics (Prometheus text format, through the
 * official client's handler), /api/snapshot and /api/alerts (JSON), /healthz, and the live page at
 * /. Two threads answer: a scraper or a browser that never reads its answer holds one, not the agent.
 * Every answer is built from the agent's latest reading: a request never touches the kernel.
 */
final class AgentHttp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    private final ExecutorService threads;

    private AgentHttp(HttpServer server, ExecutorService threads) {
        this.server = server;
        this.threads = threads;
    }

    /** Binds the address and starts answering; a busy or foreign address fails here, with what to do. */
    static AgentHttp start(InetSocketAddress address, Agent agent) {
        HttpServer server;
        try {
            server = HttpServer.create(address, 64);
        } catch (java.net.BindException e) {
            throw new IllegalStateException("cannot listen on " + describe(address) + ": " + e.getMessage()
                    + " (another agent, or another service, holds it? choose another with --listen or listen:)", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + describe(address) + ": " + e.getMessage(), e);
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(() -> {
            agent.self().scrapes.incrementAndGet();
            return agent.metrics();
        });
        server.createContext("/metrics", getOnly(new MetricsHandler(registry)));
        server.createContext("/api/snapshot", getOnly(exchange -> json(exchange, snapshot(agent))));
        server.createContext("/api/alerts", getOnly(exchange -> json(exchange, alerts(agent))));
        server.createContext("/healthz", getOnly(exchange -> {
            boolean ok = agent.healthy();
            send(exchange, ok ? 200 : 503, "text/plain; charset=utf-8", (ok ? "ok\n" : "stale: no reading of the"
                    + " kernel's counters in three intervals\n").getBytes(StandardCharsets.UTF_8));
        }));
        server.createContext("/", getOnly(exchange -> {
            if (!exchange.getRequestURI().getPath().equals("/")) {
                send(exchange, 404, "text/plain; charset=utf-8", ("not found; the endpoints are /metrics,"
                        + " /api/snapshot, /api/alerts, /healthz and /\n").getBytes(StandardCharsets.UTF_8));
                return;
            }
            send(exchange, 200, "text/html; charset=utf-8", page());
        }));
        ExecutorService threads = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "agent-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(threads);
        server.start();
        return new AgentHttp(server, threads);
    }

    InetSocketAddress address() {
        return server.getAddress();
    }

    static String describe(InetSocketAddress a) {
        String host = a.getAddress() == null ? "*" : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** GET and HEAD only; anything else is 405, a body sent with it is not read. */
    private static HttpHandler getOnly(HttpHandler handler) {
        return exchange -> {
            try (exchange) {
                String method = exchange.getRequestMethod();
                if (!method.equals("GET") && !method.equals("HEAD")) {
                    exchange.getResponseHeaders().set("Allow", "GET, HEAD");
                    send(exchange, 405, "text/plain; charset=utf-8", "only GET and HEAD\n".getBytes(StandardCharsets.UTF_8));
                    return;
                }
                handler.handle(exchange);
            } catch (IOException | RuntimeException e) {
                // the client went away mid-answer: nothing to tell it
            }
        };
    }

    private static ObjectNode snapshot(Agent agent) {
        Agent.State s = agent.state();
        ObjectNode node = JsonPresenter.line("snapshot", s.time());
        // the reading's age by the agent's own clock: a browser elsewhere, or with a clock of its own, can tell a
        // stale reading without comparing two machines' clocks
        node.put("age_seconds", java.time.Duration.between(s.time(), java.time.Instant.now()).toMillis() / 1000.0);
        node.put("started", JsonPresenter.time(s.started()));
        s.interfaces().forEach(node.putArray("interfaces")::add);
        node.put("hook", s.hook());
        s.probes().forEach(node.putArray("probes")::add);
        ObjectNode total = node.putObject("total");
        total.put("seconds", java.time.Duration.between(s.started(), s.time()).toMillis() / 1000.0);
        JsonPresenter.metrics(total, s.total(), true); // the page draws the totals' histograms
        ObjectNode interval = node.putObject("interval");
        interval.put("seconds", s.intervalLength().toMillis() / 1000.0);
        JsonPresenter.metrics(interval, s.interval());
        return node;
    }

    private static ObjectNode alerts(Agent agent) {
        ObjectNode node = JsonPresenter.line("alerts", java.time.Instant.now());
        ArrayNode active = node.putArray("active");
        agent.alerts().active().forEach(a -> active.add(JsonPresenter.alertLine(a)));
        ArrayNode recent = node.putArray("recent");
        agent.alerts().recent().forEach(a -> recent.add(JsonPresenter.alertLine(a)));
        node.put("not_kept", agent.alerts().dropped());
        return node;
    }

    private static void json(HttpExchange exchange, ObjectNode node) throws IOException {
        send(exchange, 200, "application/json", JSON.writeValueAsBytes(node));
    }

    private static void send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, head ? -1 : body.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    private static volatile byte[] page;

    /** The live page, from the jar (no build step, nothing fetched at run time). */
    private static byte[] page() throws IOException {
        if (page == null) {
            try (InputStream in = AgentHttp.class.getResourceAsStream("/web/index.html")) {
                page = in == null ? "<!doctype html><title>tcpinspect</title><p>The live page is missing from this build."
                        .getBytes(StandardCharsets.UTF_8) : in.readAllBytes();
            }
        }
        return page;
    }

    /** Stops answering, waiting a second at most for answers under way. */
    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
        try {
            threads.awaitTermination(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
