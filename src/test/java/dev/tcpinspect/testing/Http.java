package dev.tcpinspect.testing;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * HTTP requests to a server inside a namespace, made by curl there (a client we did not write), and
 * the Prometheus text format read into series: "name{labels}" to value, as a scrape has them.
 */
public final class Http {
    private Http() {}

    public record Response(int status, String body) {}

    public static Response request(String netns, String method, String url) {
        List<String> command = new java.util.ArrayList<>(List.of("curl", "-sS", "-m", "10", "-X", method, "-w", "\n%{http_code}", url));
        if (netns != null) {
            command.addAll(0, List.of("ip", "netns", "exec", netns));
        }
        Cmd.Result r = Cmd.run(command, 30);
        if (r.exit() != 0) {
            throw new AssertionError("curl " + url + ": exit " + r.exit() + " " + r.err());
        }
        String out = r.out();
        int nl = out.lastIndexOf('\n');
        return new Response(Integer.parseInt(out.substring(nl + 1).trim()), out.substring(0, Math.max(nl, 0)));
    }

    public static Response get(String netns, String url) {
        return request(netns, "GET", url);
    }

    /** Every sample of a scrape: "name{labels}" (as written) to its value. */
    public static Map<String, Double> series(String exposition) {
        Map<String, Double> series = new LinkedHashMap<>();
        for (String line : exposition.lines().toList()) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            series.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
        }
        return series;
    }

    /** The value of one series, failing when the scrape has no such series. */
    public static double value(Map<String, Double> series, String name) {
        Double v = series.get(name);
        if (v == null) {
            throw new AssertionError("no series " + name + " in the scrape; it has "
                    + series.keySet().stream().filter(k -> k.startsWith(name.replaceAll("\\{.*", ""))).toList());
        }
        return v;
    }

    /**
     * One HTTP/1.1 connection kept open for many requests, made from inside a namespace: a test that
     * counts the connections a namespace accepts opens it before its baseline, so that its requests
     * add none. Answers with a length or chunked, as the JDK's server sends them.
     */
    public static final class KeepAlive implements AutoCloseable {
        private final java.net.Socket socket;
        private final java.io.InputStream in;
        private final String host;

        public KeepAlive(dev.tcpinspect.os.Netns ns, String address, int port) {
            this.host = address + ":" + port;
            this.socket = ns.call(() -> new java.net.Socket(address, port));
            try {
                socket.setSoTimeout(10_000);
                this.in = new java.io.BufferedInputStream(socket.getInputStream());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        public Response get(String path) {
            try {
                socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                String status = line();
                int code = Integer.parseInt(status.split(" ")[1]);
                long length = -1;
                boolean chunked = false;
                for (String h = line(); !h.isEmpty(); h = line()) {
                    String lower = h.toLowerCase(java.util.Locale.ROOT);
                    if (lower.startsWith("content-length:")) {
                        length = Long.parseLong(h.substring(15).trim());
                    } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                        chunked = true;
                    }
                }
                java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
                if (chunked) {
                    for (int n = Integer.parseInt(line().split(";")[0].trim(), 16); n > 0;
                         n = Integer.parseInt(line().split(";")[0].trim(), 16)) {
                        body.write(in.readNBytes(n));
                        line();
                    }
                    line();
                } else if (length >= 0) {
                    body.write(in.readNBytes((int) length));
                }
                return new Response(code, body.toString(java.nio.charset.StandardCharsets.UTF_8));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        private String line() throws java.io.IOException {
            StringBuilder b = new StringBuilder();
            for (int c = in.read(); c != '\n'; c = in.read()) {
                if (c < 0) {
                    throw new java.io.EOFException("connection closed mid-answer");
                }
                if (c != '\r') {
                    b.append((char) c);
                }
            }
            return b.toString();
        }

        @Override
        public void close() throws java.io.IOException {
            socket.close();
        }
    }
}
