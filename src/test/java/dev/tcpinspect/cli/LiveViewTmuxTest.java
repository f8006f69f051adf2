package dev.tcpinspect.cli;

import dev.tcpinspect.testing.RunsBeside;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Http;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * watch's full-screen live view as a person sees it: tcpinspect runs in a tmux pane of 80x24 and
 * of 120x35 inside the lab's server namespace, real connections and resets go through, and the
 * pane is read back with capture-pane: the counters say what was sent, nothing is wider than the
 * pane (no line wrapped), the table of top flows is sorted by its key and 's' changes the key, '?'
 * and 'p' work, and q (or Ctrl-C) leaves the full screen, prints the summary on the normal screen
 * and leaves nothing attached.
 */
@RequiresBpf
@RunsBeside
class LiveViewTmuxTest {
    private static final int PORT = 8080;
    private static final int CLOSED_PORT = 9100;
    private static final int CONNECTIONS = 12;
    private static final int RESET_CONNECTIONS = 2;
    /** hping3's SYNs to a closed port, from one source port each: the server resets each SYN. */
    private static final int[][] SYNS = {{40001, 3}, {40002, 2}, {40003, 1}};

    /** A detached tmux session of a given size running one command; killed on close. */
    private record Pane(String name, int width, int height) implements AutoCloseable {
        static Pane start(int width, int height, List<String> command) {
            Pane pane = new Pane("tcpi-tui-" + UUID.randomUUID().toString().substring(0, 8), width, height);
            // The exit status is printed after tcpinspect ends, and the pane stays to be read.
            String line = TcpinspectProcess.shellLine(command) + "; echo tcpinspect-exit=$?; sleep 600";
            Cmd.run(List.of("tmux", "new-session", "-d", "-s", pane.name, "-x", Integer.toString(width), "-y",
                    Integer.toString(height), "-c", Path.of("").toAbsolutePath().toString(), line), 30).ok();
            return pane;
        }

        /** The visible screen, wrapped lines joined (-J): a line wider than the pane shows as one long line. */
        List<String> screen() {
            return Cmd.run(List.of("tmux", "capture-pane", "-p", "-J", "-t", name), 30).ok().out().lines().toList();
        }

        /** The normal screen with its history. */
        String history() {
            return Cmd.run(List.of("tmux", "capture-pane", "-p", "-J", "-S", "-", "-t", name), 30).ok().out();
        }

        void keys(String... keys) {
            List<String> command = new ArrayList<>(List.of("tmux", "send-keys", "-t", name));
            command.addAll(Arrays.asList(keys));
            Cmd.run(command, 30).ok();
        }

        List<String> await(String what, Predicate<List<String>> done, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            List<String> screen = screen();
            while (!done.test(screen)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(what + " within " + seconds + " s; the pane:\n" + String.join("\n", screen)
                            + "\nhistory:\n" + history());
                }
                Thread.sleep(200);
                screen = screen();
            }
            return screen;
        }

        @Override
        public void close() {
            Cmd.run(List.of("tmux", "kill-session", "-t", name), 30);
        }
    }

    @Test
    void eightyByTwentyFourQuitWithQ() throws Exception {
        watchInTmux(80, 24, "q");
    }

    @Test
    void aHundredTwentyByThirtyFiveQuitWithCtrlC() throws Exception {
        watchInTmux(120, 35, "C-c");
    }

    /**
     * Ctrl-Z in an interactive shell: the view gives the shell its normal screen and modes (it echoes
     * what is typed, a command runs), then fg brings the view back and q ends it with nothing attached.
     */
    @Test
    void ctrlZGivesTheShellItsScreenAndFgTakesItBack() throws Exception {
        try (Lab lab = Lab.create();
             Pane pane = Pane.start(80, 24, List.of("bash", "--norc", "--noprofile", "-i"))) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--interval", "0.5"));
            pane.keys("-l", "PS1='prompt$ '; " + TcpinspectProcess.shellLine(command));
            pane.keys("Enter");
            pane.await("the live view", s -> s.getFirst().contains(" tcpinspect watch ") && has(s, "ACCEPTED"), 60);
            pane.keys("C-z");
            // the job's line is as long as its command, wrapped past the screen's top: looked for in the history
            pane.await("the shell's screen", s -> !has(s, "ACCEPTED") && pane.history().contains("]+  Stopped "), 20);
            pane.keys("-l", "echo typed-$((6*7))");
            pane.keys("Enter");
            pane.await("a command echoed and run", s -> has(s, "prompt$ echo typed-$((6*7))")
                    && s.stream().anyMatch(l -> l.equals("typed-42")), 20);
            pane.keys("-l", "fg");
            pane.keys("Enter");
            pane.await("the live view again", s -> s.getFirst().contains(" tcpinspect watch ") && has(s, "ACCEPTED"), 20);
            pane.keys("q");
            pane.await("the prompt after the summary", s -> s.getLast().startsWith("prompt$") || has(s, "prompt$ "), 30);
            pane.keys("-l", "echo tcpinspect-exit=$?");
            pane.keys("Enter");
            pane.await("the exit status", s -> s.stream().anyMatch(l -> l.equals("tcpinspect-exit=0")), 20);
            String history = pane.history();
            assertTrue(history.contains("Summary: "), history);
            assertFalse(history.contains("q quit  s sort"), "the view is gone with its screen: " + history);
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "watch detached on exit");
        }
    }

    /**
     * Ctrl-Z where no job-control shell started the watch (tmux runs the pane's command under a
     * non-interactive sh, whose group is orphaned): nothing could resume it, so it is not stopped
     * (the kernel ignores SIGTSTP there too); a notice says so, the view goes on, q ends it.
     */
    @Test
    void ctrlZWithoutAJobControlShellLeavesTheViewRunning() throws Exception {
        try (Lab lab = Lab.create()) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--interval", "0.5", "--probe", "packets"));
            try (Pane pane = Pane.start(80, 24, command)) {
                pane.await("the live view", s -> s.getFirst().contains(" tcpinspect watch ") && has(s, "SYN"), 60);
                pane.keys("C-z");
                pane.await("the notice", s -> has(s, "Ctrl-Z: no job-control shell"), 20);
                String clock = pane.screen().getFirst();
                pane.await("the view redrawn since", s -> s.getFirst().contains(" tcpinspect watch ")
                        && !s.getFirst().equals(clock), 20);
                pane.keys("q");
                pane.await("the exit status", s -> s.stream().anyMatch(l -> l.equals("tcpinspect-exit=0")), 30);
            }
            assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "watch detached on exit");
        }
    }

    /**
     * --no-tui on a terminal: the line table, as wide as the terminal by default (80 columns keep the
     * packets probe's seven), the first line shortened to fit; Ctrl-C ends it as before.
     */
    @Test
    void noTuiPrintsTheLineTableAsWideAsTheTerminal() throws Exception {
        try (Lab lab = Lab.create();
             Traffic.Server server = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT)) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--interval", "0.5", "--no-tui"));
            try (Pane pane = Pane.start(80, 24, command)) {
                pane.await("the table", s -> has(s, "UTC ") && s.stream().filter(l -> l.matches("\\d\\d:\\d\\d:\\d\\d .*"))
                        .count() >= 2, 60);
                assertEquals(CONNECTIONS, Traffic.connect(lab.client(), Lab.SERVER_V4, PORT, CONNECTIONS));
                Thread.sleep(1500);
                List<String> screen = pane.history().lines().toList(); // every line so far, none scrolled off
                assertTrue(screen.getFirst().startsWith("Watching incoming TCP on " + lab.serverIf()
                        + " (tc-ingress; " + dev.tcpinspect.probe.registry.ProbeRegistry.names().size()
                        + " probes). Ctrl-C to stop."),
                        String.join("\n", screen));
                String header = screen.stream().filter(l -> l.startsWith("UTC ")).findFirst().orElseThrow();
                assertTrue(header.endsWith("PURE-ACK MALFORMED"), header);
                for (String line : screen) {
                    assertTrue(line.length() <= 80, "80 columns: " + line);
                }
                // the rows' SYN column adds up to the connections made
                long syns = screen.stream().filter(l -> l.matches("\\d\\d:\\d\\d:\\d\\d .*"))
                        .mapToLong(l -> Long.parseLong(l.trim().split("\\s+")[2])).sum();
                assertEquals(CONNECTIONS, syns, String.join("\n", screen));
                pane.keys("C-c");
                pane.await("the end", s -> has(s, "tcpinspect-exit="), 60);
                String history = pane.history();
                assertTrue(history.contains("tcpinspect-exit=0") && history.contains("Summary: "), history);
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "watch detached on exit");
            }
        }
    }

    /**
     * agent --tui: the same view of the agent's readings while it serves HTTP; its log's lines go into
     * the view, not over it; q stops the agent as SIGTERM does.
     */
    @Test
    void agentTuiShowsItsReadingsWhileItServes() throws Exception {
        try (Lab lab = Lab.create();
             Traffic.Server server = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT)) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("agent", "-i", lab.serverIf(), "--tui"));
            try (Pane pane = Pane.start(100, 30, command)) {
                pane.await("the live view", s -> has(s, "ACCEPTED"), 60);
                assertEquals(CONNECTIONS, Traffic.connect(lab.client(), Lab.SERVER_V4, PORT, CONNECTIONS));
                List<String> screen = pane.await("the connections", s -> counter(s, "ACCEPTED") == CONNECTIONS, 30);
                fits(screen, 100, 30);
                Http.Response health = Http.get(lab.serverNs(), "http://127.0.0.1:9977/healthz");
                assertEquals(200, health.status(), "it serves HTTP meanwhile");
                assertFalse(screen.stream().anyMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT.* info ready .*")),
                        "no log line over the view: " + String.join("\n", screen));
                pane.keys("q");
                pane.await("the end", s -> has(s, "tcpinspect-exit="), 60);
                String history = pane.history();
                assertTrue(history.contains("tcpinspect-exit=0") && history.contains("Summary: "), history);
                assertTrue(history.contains(" info stopped"), history);
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "the agent detached on exit");
            }
        }
    }

    private void watchInTmux(int width, int height, String quitKey) throws Exception {
        try (Lab lab = Lab.create();
             Traffic.Server server = Traffic.listen(lab.server(), Lab.SERVER_V4, PORT)) {
            List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", lab.serverNs()));
            command.addAll(TcpinspectProcess.javaCommand());
            command.addAll(List.of("watch", "-i", lab.serverIf(), "--interval", "0.5"));
            try (Pane pane = Pane.start(width, height, command)) {
                pane.await("the live view", s -> s.getFirst().contains(" tcpinspect watch ") && has(s, "ACCEPTED"), 60);

                assertEquals(CONNECTIONS, Traffic.connect(lab.client(), Lab.SERVER_V4, PORT, CONNECTIONS));
                assertEquals(RESET_CONNECTIONS, Traffic.connectAndReset(lab.client(), Lab.SERVER_V4, PORT,
                        RESET_CONNECTIONS));
                for (int[] syns : SYNS) {
                    Cmd.Result r = Cmd.run(List.of("ip", "netns", "exec", lab.clientNs(), "hping3", "-I", lab.clientIf(),
                            "-q", "-S", "-k",
                            "-s", Integer.toString(syns[0]), "-p", Integer.toString(CLOSED_PORT), "-c",
                            Integer.toString(syns[1]), "-i", "u20000", Lab.SERVER_V4), 30);
                    assertTrue((r.out() + r.err()).contains(syns[1] + " packets transmitted"), r.toString());
                }
                int accepted = CONNECTIONS + RESET_CONNECTIONS;
                int synsSent = accepted + Arrays.stream(SYNS).mapToInt(s -> s[1]).sum();
                List<String> screen = pane.await("the counters of what was sent", s -> counter(s, "ACCEPTED") == accepted
                        && counter(s, "SYN") == synsSent && counter(s, "RST-OUT") == 6 && counter(s, "RST-IN") == 2, 30);
                fits(screen, width, height);

                // The table of top flows by resets (t until it is shown): sorted by its key, and s changes the key.
                for (int i = 0; i < 6 && !heading(screen).contains("BY RESETS"); i++) {
                    pane.keys("t");
                    screen = pane.await("the next table", s -> !heading(s).isEmpty(), 10);
                }
                assertTrue(heading(screen).contains("TOP FLOWS BY RESETS since start"), String.join("\n", screen));
                String key = sortKey(screen);
                assertSortedBy(screen, key);
                pane.keys("s");
                screen = pane.await("another sort key", s -> !sortKey(s).equals(key), 10);
                String other = sortKey(screen);
                assertNotEquals(key, other);
                assertSortedBy(screen, other);
                // Under "sent" the flow with three resets comes first; under "received" a reset connection does.
                topRowFits(screen, other);
                pane.keys("s");
                screen = pane.await("the sort key " + key + " again", s -> sortKey(s).equals(key), 10);
                topRowFits(screen, key);
                fits(screen, width, height);

                pane.keys("?");
                screen = pane.await("the help", s -> has(s, "KEYS"), 10);
                fits(screen, width, height);
                pane.keys("x");
                screen = pane.await("the view again", s -> !has(s, "KEYS") && has(s, "ACCEPTED"), 10);
                pane.keys("p");
                pane.await("paused", s -> s.getFirst().contains("PAUSED"), 10);
                pane.keys("p");
                pane.await("running again", s -> !s.getFirst().contains("PAUSED"), 10);

                pane.keys(quitKey);
                pane.await("the end", s -> has(s, "tcpinspect-exit="), 60);
                String history = pane.history();
                assertTrue(history.contains("tcpinspect-exit=0"), history);
                assertTrue(history.contains("Summary: "), history);
                assertTrue(history.lines().anyMatch(l -> l.matches("  accepted connections\\s+" + accepted)), history);
                assertFalse(history.contains("q quit  s sort"), "the view is gone with its screen: " + history);
                assertEquals("", Cmd.bpfAttachedIn(lab.serverNs(), lab.serverIf()), "watch detached on exit");
            }
        }
    }

    /** Exactly one line per row, none wider than the pane: nothing wrapped. */
    private static void fits(List<String> screen, int width, int height) {
        assertEquals(height, screen.size(), "a line wrapped: " + String.join("\n", screen));
        for (String line : screen) {
            assertTrue(line.length() <= width, width + " columns: " + line);
        }
    }

    private static boolean has(List<String> screen, String text) {
        return screen.stream().anyMatch(l -> l.contains(text));
    }

    /** A counter's total: "ACCEPTED       14  2.0/s" (the title, then its total); -1 when not shown. */
    private static long counter(List<String> screen, String title) {
        Pattern p = Pattern.compile("(?:^|\\s)" + Pattern.quote(title) + "\\s+([0-9,]+)\\s");
        for (String line : screen) {
            Matcher m = p.matcher(line + " ");
            if (m.find()) {
                return Long.parseLong(m.group(1).replace(",", ""));
            }
        }
        return -1;
    }

    private static String heading(List<String> screen) {
        return screen.stream().filter(l -> l.startsWith("TOP FLOWS BY ")).findFirst().orElse("");
    }

    private static String sortKey(List<String> screen) {
        Matcher m = Pattern.compile("sort: (\\S+) \\(s\\)").matcher(heading(screen));
        return m.find() ? m.group(1) : "";
    }

    private static List<String> columns(List<String> screen) {
        String header = screen.stream().filter(l -> l.startsWith("FLOW ")).findFirst().orElseThrow(() ->
                new AssertionError("no table header: " + String.join("\n", screen)));
        return List.of(header.trim().split("\\s{2,}"));
    }

    /** The table's rows, each split into its cells (cells are apart by two spaces or more). */
    private static List<List<String>> rows(List<String> screen) {
        int at = -1;
        for (int i = 0; i < screen.size(); i++) {
            if (screen.get(i).startsWith("FLOW ")) {
                at = i;
            }
        }
        List<List<String>> rows = new ArrayList<>();
        for (int i = at + 1; i < screen.size() - 1 && !screen.get(i).isBlank(); i++) {
            rows.add(List.of(screen.get(i).trim().split("\\s{2,}")));
        }
        assertFalse(rows.isEmpty(), String.join("\n", screen));
        return rows;
    }

    /** The first row under a key: the flow with three resets under "sent", a reset connection under "received". */
    private static void topRowFits(List<String> screen, String key) {
        List<String> columns = columns(screen);
        List<String> top = rows(screen).getFirst();
        if (key.equals("sent")) {
            assertTrue(top.getFirst().endsWith(":40001") && top.get(columns.indexOf("SENT")).equals("3"),
                    String.join("\n", screen));
        } else {
            assertEquals("received", key);
            assertTrue(top.getFirst().contains(":" + PORT + " ") && top.get(columns.indexOf("RECEIVED")).equals("1"),
                    String.join("\n", screen));
        }
    }

    private static void assertSortedBy(List<String> screen, String key) {
        List<String> columns = columns(screen);
        int at = columns.indexOf(key.toUpperCase(java.util.Locale.ROOT));
        assertTrue(at > 0, key + " among " + columns);
        long before = Long.MAX_VALUE;
        for (List<String> row : rows(screen)) {
            long value = Long.parseLong(row.get(at).replace(",", ""));
            assertTrue(value <= before, "sorted by " + key + ", biggest first:\n" + String.join("\n", screen));
            before = value;
        }
    }
}
