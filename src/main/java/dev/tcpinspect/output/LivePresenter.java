package dev.tcpinspect.output;

import dev.tcpinspect.probe.EventType;
import dev.tcpinspect.probe.EventView;
import dev.tcpinspect.snapshot.Alert;
import dev.tcpinspect.snapshot.Reading;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.jline.terminal.Attributes;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import org.jline.utils.AttributedString;
import org.jline.utils.AttributedStringBuilder;
import org.jline.utils.Display;
import org.jline.utils.InfoCmp.Capability;
import org.jline.utils.NonBlockingReader;
import org.jline.utils.Signals;

/**
 * The full-screen live view of a watch on a terminal, as top shows processes (see {@link LiveView}
 * for what it shows), drawn with JLine: the terminal in raw mode on its alternate screen, redrawn in
 * place by JLine's Display, fitted to the terminal's size again on SIGWINCH. Keys: q quits (the
 * watch stops as on Ctrl-C: everything detached, the summary printed on the normal screen), s sorts
 * the table by its next numeric column, t shows the next table, p pauses redrawing, ? or h shows
 * the keys.
 *
 * <p>JLine's raw mode clears ISIG, so Ctrl-C and Ctrl-Z come as keys: Ctrl-C quits as q does, and
 * Ctrl-Z gives the terminal back and stops the process (as SIGTSTP would). JLine is built without
 * signal handlers of its own, so SIGINT and SIGTERM from elsewhere reach the watch's own handlers
 * (the StopSignal) unchanged; SIGWINCH, SIGCONT and SIGTSTP are registered through JLine's Signals
 * and given back at the end. The
 * terminal is opened on a thread of its own while the probes load, and given back (normal screen,
 * modes as they were) when the summary comes, when the watch fails ({@link #close}) or before a
 * second interrupt ends the process ({@link #restore}). When no terminal can be had (JLine finds
 * only a dumb one) it prints the line table instead.
 */
public final class LivePresenter implements Presenter {
    /** How often the key reader wakes to redraw what changed between intervals (alerts, resize). */
    private static final long TICK_MILLIS = 100;
    private final PrintStream out;
    private final int width;
    private final Runnable quit;
    private final LiveView view = new LiveView();
    private final Thread opening;
    private final List<String> notices = new ArrayList<>();
    private volatile Terminal terminal;
    private volatile Throwable openFailure;
    private TextPresenter fallback;
    private Display display;
    private Attributes original;
    private Attributes raw;
    private Object previousWinch;
    private Object previousCont;
    private Object previousTstp;
    /** Stopped by Ctrl-Z: the screen is the shell's until SIGCONT. */
    private boolean suspended;
    private Thread keys;
    private volatile boolean onScreen;
    private volatile boolean failed;
    private boolean dirty;

    /**
     * Starts opening the terminal at once (JLine's classes load meanwhile); the screen is taken at
     * {@link #ready}. quit asks the watch to stop, as a stop signal does; width is the line table's,
     * should no usable terminal be found.
     */
    public LivePresenter(PrintStream out, int width, Runnable quit) {
        this.out = out;
        this.width = width;
        this.quit = quit;
        opening = Thread.ofPlatform().daemon().name("tcpinspect-terminal").start(() -> {
            try {
                // No signal handlers of JLine's (the watch keeps SIGINT's), and no probing of the
                // terminal for emoji clusters (it would write test characters on the user's screen
                // and wait for answers): the view is plain ASCII.
                terminal = TerminalBuilder.builder().system(true).providers("ffm,exec")
                        .nativeSignals(false).graphemeCluster(false).dumb(true).build();
            } catch (Throwable t) {
                openFailure = t;
            }
        });
    }

    @Override
    public boolean wantsEvents() {
        return false;
    }

    @Override
    public synchronized boolean wantsTables() {
        return fallback == null;
    }

    @Override
    public synchronized void ready(Instant time, List<String> interfaces, String hook, List<String> probes) {
        Terminal t = awaitTerminal();
        if (t == null || t.getType() == null || t.getType().startsWith("dumb")) {
            fallback = new TextPresenter(out, width, true);
            if (t != null) {
                closeQuietly(t);
            }
            fallback.ready(time, interfaces, hook, probes);
            return;
        }
        view.ready(time, interfaces, hook, probes);
        display = new Display(t, true);
        display.clear(); // the first update clears the screen: nothing is assumed of it
        original = t.enterRawMode();
        onScreen = true; // from here on, restore() gives back whatever was taken
        raw = t.getAttributes();
        previousWinch = Signals.register("WINCH", () -> t.raise(Terminal.Signal.WINCH));
        previousCont = Signals.register("CONT", this::resumed);
        previousTstp = Signals.register("TSTP", this::suspend);
        t.handle(Terminal.Signal.WINCH, s -> redraw(true));
        t.puts(Capability.enter_ca_mode);
        t.puts(Capability.cursor_invisible);
        t.flush();
        draw();
        keys = Thread.ofPlatform().daemon().name("tcpinspect-keys").start(this::readKeys);
    }

    private Terminal awaitTerminal() {
        try {
            opening.join(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return openFailure == null ? terminal : null;
    }

    @Override
    public synchronized void interval(Instant time, Duration length, Reading delta) {
        if (fallback != null) {
            fallback.interval(time, length, delta);
            return;
        }
        view.interval(time, length, delta);
        if (!view.paused()) {
            draw();
        }
    }

    @Override
    public synchronized void alert(Alert alert) {
        if (fallback != null) {
            fallback.alert(alert);
            return;
        }
        view.alert(alert);
        dirty = true; // drawn by the key reader within a tick: a storm of alerts costs one redraw a tick
    }

    @Override
    public synchronized void notice(String line) {
        if (!onScreen) {
            System.err.println(line);
            return;
        }
        notices.add(line);
        view.notice(line, Instant.now());
        dirty = true;
    }

    @Override
    public synchronized void summary(Instant time, Duration length, List<String> interfaces, Reading total) {
        if (fallback != null) {
            fallback.summary(time, length, interfaces, total);
            return;
        }
        restore();
        for (String line : notices) {
            System.err.println(line); // said on the screen that is gone: said again where it stays
        }
        new TextPresenter(out, columns(), true).summary(time, length, interfaces, total);
    }

    @Override
    public synchronized boolean outputGone() {
        return fallback != null ? fallback.outputGone() : failed;
    }

    @Override
    public void event(EventType<?> type, EventView event) {
        // The live view shows counts, histograms and tables; events are for --format json.
    }

    /**
     * Leaves the full screen: the normal screen back, the cursor shown, the terminal's modes as they
     * were, the signal handlers given back. Safe to call more than once and from any thread.
     */
    public synchronized void restore() {
        if (!onScreen) {
            return;
        }
        onScreen = false;
        Terminal t = terminal;
        Signals.unregister("WINCH", previousWinch);
        Signals.unregister("CONT", previousCont);
        Signals.unregister("TSTP", previousTstp);
        try {
            t.puts(Capability.cursor_normal);
            t.puts(Capability.exit_ca_mode);
            t.flush();
        } catch (RuntimeException | java.io.IOError e) {
            failed = true; // the terminal went away (hung up): nothing is left to show
        }
        try {
            t.setAttributes(original); // the modes, whether or not the screen could be switched back
        } catch (RuntimeException | java.io.IOError e) {
            failed = true;
        }
    }

    /** Gives the terminal back, whatever happened; also when the watch failed before its summary. */
    @Override
    public void close() {
        restore();
        Thread k = keys;
        if (k != null) {
            try {
                k.join(TICK_MILLIS * 3);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Terminal t = awaitTerminal();
        if (t != null) {
            closeQuietly(t);
        }
    }

    private static void closeQuietly(Terminal t) {
        try {
            t.close();
        } catch (Exception e) {
            // giving it back is all that was left to do
        }
    }

    /**
     * Ctrl-Z (the key, or SIGTSTP from elsewhere): the normal screen and the terminal's modes given
     * back, as a shell expects of a job it stops, then the process stopped as SIGTSTP's default would;
     * SIGCONT (fg, bg) takes the screen again. In an orphaned process group (started by no job-control
     * shell) nothing would resume it: a notice instead, as the kernel ignores SIGTSTP there.
     */
    private void suspend() {
        if (dev.tcpinspect.os.ProcessGroup.orphaned()) {
            // no shell would resume it (the kernel ignores SIGTSTP here too): the view goes on
            synchronized (this) {
                view.notice("Ctrl-Z: no job-control shell started this watch, so nothing could resume it: not"
                        + " stopped (q quits)", Instant.now());
                draw();
            }
            return;
        }
        synchronized (this) {
            suspended = true; // nothing is drawn on the shell's screen until fg
            if (onScreen) {
                try {
                    terminal.puts(Capability.cursor_normal);
                    terminal.puts(Capability.exit_ca_mode);
                    terminal.flush();
                    terminal.setAttributes(original);
                } catch (RuntimeException | java.io.IOError e) {
                    // the terminal went away: stopped all the same
                }
            }
        }
        dev.tcpinspect.os.Libc.raise(dev.tcpinspect.os.Libc.SIGSTOP);
    }

    /** After a stop (Ctrl-Z) and fg: the shell put the terminal back as it likes it; take it again. */
    private synchronized void resumed() {
        suspended = false;
        if (!onScreen) {
            return;
        }
        terminal.setAttributes(raw);
        terminal.puts(Capability.enter_ca_mode);
        terminal.puts(Capability.cursor_invisible);
        redraw(true);
    }

    private synchronized void redraw(boolean clear) {
        if (onScreen && clear) {
            display.clear();
        }
        draw();
    }

    /** The terminal's width now, or the line table's when it does not say. */
    private int columns() {
        try {
            int columns = terminal.getSize().getColumns();
            return columns > 0 ? columns : width;
        } catch (RuntimeException e) {
            return width;
        }
    }

    /** Draws the view at the terminal's size now; JLine's Display writes only what changed. */
    private synchronized void draw() {
        if (!onScreen || suspended) {
            return;
        }
        dirty = false;
        try {
            Size size = terminal.getSize();
            int rows = size.getRows() > 0 ? size.getRows() : 24;
            int columns = size.getColumns() > 0 ? size.getColumns() : 80;
            display.resize(rows, columns);
            // A column short of the edge: where a terminal wraps as soon as its last column is
            // written, the bottom line would scroll the screen.
            List<AttributedString> lines = view.render(columns - 1, rows, Instant.now());
            for (int i = 0; i < lines.size() - 1; i++) {
                // A line without a newline is taken by Display for the first part of a longer one,
                // which it continues by letting the terminal wrap: each of these is a line of its own.
                lines.set(i, new AttributedStringBuilder().append(lines.get(i)).append('\n').toAttributedString());
            }
            display.update(lines, -1);
            terminal.flush();
        } catch (RuntimeException | java.io.IOError e) {
            failed = true; // the terminal is gone: the watch stops at its next interval
        }
    }

    /** The keys, until the screen is left; between keys, redraws what changed (alerts, notices). */
    private void readKeys() {
        NonBlockingReader reader = terminal.reader();
        boolean input = true;
        while (onScreen) {
            int c;
            try {
                c = input ? reader.read(TICK_MILLIS) : NonBlockingReader.READ_EXPIRED;
                if (!input) {
                    Thread.sleep(TICK_MILLIS);
                }
            } catch (java.io.IOException e) {
                input = false;
                continue;
            } catch (InterruptedException e) {
                return;
            }
            if (c == NonBlockingReader.EOF) {
                input = false; // standard input is no terminal, or was closed: no keys, the view goes on
                continue;
            }
            synchronized (this) {
                if (c >= 0) {
                    key(c, reader);
                } else if (dirty && !view.paused()) {
                    draw();
                }
            }
        }
    }

    private void key(int c, NonBlockingReader reader) {
        if (c == 27) {
            skipEscapeSequence(reader); // arrows and other keys that send sequences do nothing
            if (view.help()) {
                view.toggleHelp();
            }
            draw();
            return;
        }
        if (c == 26) { // Ctrl-Z: raw mode passes it as a key (no ISIG), so the view stops itself as the shell expects
            suspend();
            return;
        }
        if (c == 'q' || c == 'Q' || c == 3) { // 3: Ctrl-C, which raw mode passes as a key
            view.notice("stopping: detaching and summing up", Instant.now());
            draw();
            quit.run();
            return;
        }
        if (view.help()) {
            view.toggleHelp(); // any key closes the help
        } else {
            switch (c) {
                case 's', 'S' -> view.nextSortKey();
                case 't', 'T', '\t' -> view.nextTable();
                case 'p', 'P', ' ' -> view.togglePause();
                case '?', 'h', 'H' -> view.toggleHelp();
                case 12 -> display.clear(); // Ctrl-L: draw everything again
                default -> { }
            }
        }
        draw();
    }

    /** After ESC: the rest of a CSI or SS3 sequence, if one follows at once. */
    private static void skipEscapeSequence(NonBlockingReader reader) {
        try {
            int c = reader.read(20);
            if (c == '[') {
                do {
                    c = reader.read(20);
                } while (c >= 0 && (c < 0x40 || c > 0x7E));
            } else if (c == 'O') {
                reader.read(20);
            }
        } catch (java.io.IOException e) {
            // no more input
        }
    }
}
