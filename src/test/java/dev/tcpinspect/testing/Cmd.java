package dev.tcpinspect.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs an external tool (an oracle: tshark, tcpdump, bpftool, ip) and captures what it printed. */
public final class Cmd {
    public record Result(int exit, String out, String err) {
        public Result ok() {
            if (exit != 0) {
                throw new AssertionError("exit " + exit + ": " + err + out);
            }
            return this;
        }
    }

    private Cmd() {}

    public static Result run(String... command) {
        return run(List.of(command), 60);
    }

    public static Result run(List<String> command, int timeoutSeconds) {
        try {
            Process p = new ProcessBuilder(command).start();
            p.getOutputStream().close();
            CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
            CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(command + " did not finish in " + timeoutSeconds + " s");
            }
            return new Result(p.exitValue(), new String(out.join(), StandardCharsets.UTF_8),
                    new String(err.join(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static byte[] readAll(java.io.InputStream in) {
        try {
            return in.readAllBytes();
        } catch (IOException e) {
            return new byte[0];
        }
    }

    /**
     * A kernel counter of a namespace as nstat reads it (absolute, -a; without touching nstat's
     * history file, -s), e.g. "TcpExtListenOverflows"; fails when nstat has no such counter.
     */
    public static long nstat(String netns, String counter) {
        String out = run(List.of("ip", "netns", "exec", netns, "nstat", "-asz", counter), 30).ok().out();
        for (String line : out.lines().toList()) {
            if (line.startsWith(counter + " ")) {
                return Long.parseLong(line.trim().split("\\s+")[1]);
            }
        }
        throw new AssertionError("nstat has no " + counter + ": " + out);
    }

    /** Every kernel counter of a namespace as nstat reads it (absolute, without nstat's history file), by name. */
    public static java.util.Map<String, Long> nstatAll(String netns) {
        String out = run(List.of("ip", "netns", "exec", netns, "nstat", "-asz"), 30).ok().out();
        java.util.Map<String, Long> counters = new java.util.TreeMap<>();
        for (String line : out.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 2 && f[1].matches("\\d+")) {
                counters.put(f[0], Long.parseLong(f[1]));
            }
        }
        return counters;
    }

    /** The counters that moved from before to after, as "Name +delta", for a failing assertion's message. */
    public static String nstatMoved(java.util.Map<String, Long> before, java.util.Map<String, Long> after) {
        StringBuilder moved = new StringBuilder();
        after.forEach((name, value) -> {
            long delta = value - before.getOrDefault(name, 0L);
            if (delta != 0) {
                moved.append(moved.isEmpty() ? "" : ", ").append(name).append(" +").append(delta);
            }
        });
        return moved.toString();
    }

    /** What {@code bpftool net show} lists for a device inside a namespace: empty when nothing is attached. */
    public static String bpfAttachedIn(String netns, String device) {
        Result r = run(List.of("ip", "netns", "exec", netns, "bpftool", "-j", "net", "show", "dev", device), 30).ok();
        // JSON: [{"xdp":[...],"tc":[...],"flow_dissector":[...]...}] ; keep only the entries.
        return r.out().replaceAll("\"(xdp|tc|flow_dissector|netfilter|tcx)\":\\[\\]", "")
                .replaceAll("[\\[\\]{},\\s]", "");
    }

    /**
     * The programs of that name loaded anywhere on the host (a line for each: id, name, when loaded, by whom),
     * but those held by a test that runs beside this one ({@link #heldBeside}): "" when none.
     */
    public static String programsNamed(String name) {
        return programsNamedLike(name::equals);
    }

    /** As {@link #programsNamed}, for the programs whose name passes the test. */
    public static String programsNamedLike(java.util.function.Predicate<String> nameTest) {
        return settled(() -> {
            try {
                var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
                Held before = heldBeside(); // and after the listing: whoever ended or started meanwhile
                var listed = mapper.readTree(run(List.of("bpftool", "-j", "prog", "show"), 30).ok().out());
                Held others = union(before, heldBeside());
                StringBuilder found = new StringBuilder();
                for (var program : listed) {
                    String name = program.path("name").asText();
                    if (nameTest.test(name) && !others.programs().contains(program.path("id").asLong())) {
                        // what stays the same from one reading to the next (with bpf_stats on, run counts do not)
                        found.append("id ").append(program.path("id").asLong()).append(" name ").append(name)
                                .append(" loaded_at ").append(program.path("loaded_at").asText())
                                .append(" pids ").append(program.path("pids")).append('\n');
                    }
                }
                return found.toString().strip();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, String::isEmpty);
    }

    /**
     * A host-wide listing once it holds still: read again 200 ms later (up to 2 s) unless it is
     * empty, until two readings agree. What a process beside this test held as it ended (and the
     * kernel frees a moment later, past its process's fdinfo) is then gone from it; a real leftover stays.
     */
    private static <T> T settled(java.util.function.Supplier<T> listing, java.util.function.Predicate<T> empty) {
        T last = listing.get();
        for (int i = 0; i < 10 && !empty.test(last); i++) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            T again = listing.get();
            if (again.equals(last)) {
                return again;
            }
            last = again;
        }
        return last;
    }

    /** A field of /proc/PID/status ("SigIgn", "NSpid", "VmRSS", ...): its value as the kernel wrote it. */
    public static String procStatus(long pid, String field) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(field + ":")) {
                    return line.substring(field.length() + 1).strip();
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        throw new AssertionError("no " + field + " in /proc/" + pid + "/status");
    }

    /** Whether the process has the signal (its number: 1 SIGHUP, 2 SIGINT) ignored, as the kernel says. */
    public static boolean signalIgnored(long pid, int signal) {
        return (Long.parseLong(procStatus(pid, "SigIgn"), 16) & (1L << (signal - 1))) != 0;
    }

    /** Whether the process is PID 1 of its own PID namespace (the last of its NSpid numbers). */
    public static boolean pidOneOfItsNamespace(long pid) {
        return procStatus(pid, "NSpid").matches("\\d+\\s+1");
    }

    /** BPF programs, links and maps by id. */
    public record Held(java.util.Set<Long> programs, java.util.Set<Long> links, java.util.Set<Long> maps) {}

    /**
     * The BPF programs and links held open by the tcpinspect processes of the tests that run beside
     * this one ({@link RunsBeside}: their command lines carry {@link RunsBeside#MARK}), and by this
     * JVM while a class beside this one loads probes in it, from their descriptors' fdinfo in /proc:
     * checks for what a test left behind pass over them, and only them. Call it before and after the
     * listing it filters, and leave out both ({@link #union}): a process that ended or started
     * meanwhile is then left out too.
     */
    public static Held heldBeside() {
        java.util.Set<Long> pids = new java.util.HashSet<>();
        java.io.File[] all = new java.io.File("/proc").listFiles((dir, name) -> name.chars().allMatch(Character::isDigit));
        for (java.io.File process : all == null ? new java.io.File[0] : all) {
            try {
                String cmdline = new String(java.nio.file.Files.readAllBytes(process.toPath().resolve("cmdline")),
                        java.nio.charset.StandardCharsets.UTF_8);
                if (cmdline.contains(RunsBeside.MARK)) {
                    pids.add(Long.parseLong(process.getName()));
                }
            } catch (IOException | RuntimeException gone) {
                // the process went meanwhile
            }
        }
        if (RunsBeside.Mark.inProcessBesideRunning()) {
            pids.add(ProcessHandle.current().pid()); // the probes a class beside this one loaded here
        }
        return heldBy(pids);
    }

    /** Both sets of ids: what {@link #heldBeside} found before a listing and after it. */
    public static Held union(Held a, Held b) {
        java.util.Set<Long> programs = new java.util.HashSet<>(a.programs());
        programs.addAll(b.programs());
        java.util.Set<Long> links = new java.util.HashSet<>(a.links());
        links.addAll(b.links());
        java.util.Set<Long> maps = new java.util.HashSet<>(a.maps());
        maps.addAll(b.maps());
        return new Held(programs, links, maps);
    }

    /** The BPF programs, links and maps these processes hold open, from their descriptors' fdinfo. */
    public static Held heldBy(java.util.Set<Long> pids) {
        java.util.Set<Long> programs = new java.util.HashSet<>();
        java.util.Set<Long> links = new java.util.HashSet<>();
        java.util.Set<Long> maps = new java.util.HashSet<>();
        for (long pid : pids) {
            java.io.File[] fds = new java.io.File("/proc/" + pid + "/fdinfo").listFiles();
            for (java.io.File fd : fds == null ? new java.io.File[0] : fds) {
                try {
                    for (String line : java.nio.file.Files.readAllLines(fd.toPath())) {
                        if (line.startsWith("prog_id:")) {
                            programs.add(Long.parseLong(line.substring(8).strip()));
                        } else if (line.startsWith("link_id:")) {
                            links.add(Long.parseLong(line.substring(8).strip()));
                        } else if (line.startsWith("map_id:")) {
                            maps.add(Long.parseLong(line.substring(7).strip()));
                        }
                    }
                } catch (IOException | RuntimeException gone) {
                    // the descriptor or the process went meanwhile
                }
            }
        }
        return new Held(programs, links, maps);
    }

    /**
     * bpftool's list of links, asked again while a link is being made beside it: the kernel
     * answers EAGAIN for a link whose id is not settled yet, and bpftool 7.1 then stops the
     * whole listing with "can't get link by id".
     */
    private static Result linkListing() {
        Result listed = run(List.of("bpftool", "-j", "link", "show"), 30);
        for (int i = 0; i < 50 && listed.exit() != 0
                && (listed.out() + listed.err()).contains("Resource temporarily unavailable"); i++) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            listed = run(List.of("bpftool", "-j", "link", "show"), 30);
        }
        return listed;
    }

    /**
     * Names of the programs attached through tcx links, host-wide (but the links and programs held by
     * a test that runs beside this one: {@link #heldBeside}), from bpftool: its link list names
     * a tcx link's type only by number (11, BPF_LINK_TYPE_TCX) in bpftool 7.1, and its program list
     * names the program.
     */
    public static List<String> tcxProgramNames() {
        return settled(() -> {
            try {
                var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
                List<String> names = new java.util.ArrayList<>();
                Held before = heldBeside(); // and after the listing: whoever ended or started meanwhile
                var listed = mapper.readTree(linkListing().ok().out());
                Held others = union(before, heldBeside());
                for (var link : listed) {
                    String type = link.path("type").asText();
                    // a link pinned by an enforcer beside this test is held by its pin alone, and its program by that enforcer
                    if ((type.equals("11") || type.equals("tcx")) && !others.links().contains(link.path("id").asLong())
                            && !others.programs().contains(link.path("prog_id").asLong())) {
                        Result prog = run(List.of("bpftool", "-j", "prog", "show", "id", link.path("prog_id").asText()), 30);
                        // a link whose program is gone by now went meanwhile
                        names.add(prog.exit() == 0 ? mapper.readTree(prog.out()).path("name").asText() : "(gone)");
                    }
                }
                return names;
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, List::isEmpty);
    }
}
