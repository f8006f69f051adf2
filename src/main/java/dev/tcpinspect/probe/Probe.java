package dev.tcpinspect.probe;

import dev.tcpinspect.ebpf.OpenObject;
import dev.tcpinspect.snapshot.Snapshot;
import java.lang.foreign.StructLayout;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A probe: its handlers in bpf/probes/NAME.h, its maps (all named NAME_...), and this side of it,
 * one package per probe. Each {@link ProbeSet} makes its own instances (from {@link ProbeRegistry}),
 * switches the probes on in the one object before it is loaded, binds each to its maps, and asks it
 * for snapshots and events. The probe decodes everything it reads: outputs only render.
 */
public interface Probe {
    /** The name --probe takes and every output shows; its C switch is NAME_enabled, its maps NAME_... */
    String name();

    /** One line for --help and the README: what it counts, and where. */
    String help();

    /** The hooks its handlers run on. */
    Set<Hook> hooks();

    /** The thresholds and windows its user may change (watch --set NAME.KEY=VALUE); most probes have none. */
    default List<Setting> settings() {
        return List.of();
    }

    /**
     * Changes one of its settings before it is started; an unknown key or a bad value is refused
     * with an IllegalArgumentException that says which and why.
     */
    default void set(String key, String value) {
        throw new IllegalArgumentException(name() + " has no setting '" + key + "'"
                + (settings().isEmpty() ? "" : "; its settings are " + String.join(", ",
                        settings().stream().map(Setting::key).toList())));
    }

    /** Before the object is loaded: sizes or constants of its own beyond its switch (most need none). */
    default void configure(OpenObject object, ProbeSet.Options options) {}

    /**
     * The object's maps it uses beside other probes, named after none of them ("shared_..."; the
     * ingress hook's per-flow records): such a map is created when a running probe names it here,
     * and takes no memory when every probe that uses it is off.
     */
    default Set<String> sharedMaps() {
        return Set.of();
    }

    /** After loading: takes its maps and whatever else it reads from the context. */
    void bind(ProbeContext context);

    /**
     * What it counted since it was loaded. With tables, the summary's extras too (top flows, per
     * port histograms), which cost a walk of its tables: a summary asks for them, an interval not.
     */
    Snapshot snapshot(boolean withTables);

    /**
     * Whether its rings are read whatever the output shows (a capture for a file): their records are
     * its purpose, not events for the output, so the set keeps them full-size and reads them always.
     */
    default boolean readsRingsAlways() {
        return false;
    }

    /** Its events, when it makes any (a probe that only counts has none). */
    default Optional<EventType<?>> events() {
        return Optional.empty();
    }

    /**
     * Empties the kernel's per-flow tables into its own totals (bpf/lib/flowtable.h): they hold only
     * so many new flows between two drains, so a watch drains them every second.
     */
    default void drain() {}

    /**
     * When its set closes, before the object's links go: lets go of what it holds outside the
     * object (sockets it took from another process). Most probes hold nothing of the kind.
     */
    default void close() {}

    /**
     * Whether closing it needs no privilege (true for what the kernel detaches on closing a file
     * descriptor): a watch gives up root once attached only when every probe says so.
     */
    default boolean detachesWithoutPrivileges() {
        return true;
    }

    /** Layouts it shares with the C side, by the C struct's name: a test checks each against the object's BTF. */
    default List<StructLayout> sharedStructs() {
        return List.of();
    }

    /**
     * The running kernel's enums whose names it shows (read from the kernel's BTF: ebpf.KernelEnums),
     * so that a start reads them all with one parse, ahead of time.
     */
    default List<String> kernelEnums() {
        return List.of();
    }

    /** Enums it shares with the C side: C enum name to its constants' names, in value order from 0. */
    default Map<String, List<String>> sharedEnums() {
        return Map.of();
    }
}
