package dev.tcpinspect.agent;

import dev.tcpinspect.snapshot.Alert;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The alerts an agent serves: those under way (each episode's latest state, until it ends) and the
 * last {@value #RECENT} changes of any episode, ended ones included. Bounded both ways: a flood of
 * episodes cannot grow it past what the probes themselves hold.
 */
public final class AlertBoard {
    static final int RECENT = 200;
    static final int MAX_ACTIVE = 10_000;

    private final Map<String, Alert> active = new LinkedHashMap<>();
    private final ArrayDeque<Alert> recent = new ArrayDeque<>();
    private long dropped;

    synchronized void accept(Alert alert) {
        if (alert.state() == Alert.State.END) {
            active.remove(alert.episode());
        } else if (active.containsKey(alert.episode()) || active.size() < MAX_ACTIVE) {
            active.put(alert.episode(), alert);
        } else {
            dropped++;
        }
        recent.addLast(alert);
        if (recent.size() > RECENT) {
            recent.removeFirst();
        }
    }

    /** The episodes of probes that were unloaded (a reload) end without their END. */
    synchronized void clearActive() {
        active.clear();
    }

    public synchronized List<Alert> active() {
        return new ArrayList<>(active.values());
    }

    public synchronized List<Alert> recent() {
        return new ArrayList<>(recent);
    }

    /** Alerts under way by type, for a gauge. */
    public synchronized Map<String, Long> activeByType() {
        Map<String, Long> n = new TreeMap<>();
        active.values().forEach(a -> n.merge(a.type(), 1L, Long::sum));
        return n;
    }

    /** Episodes not kept because {@value #MAX_ACTIVE} were already under way. */
    public synchronized long dropped() {
        return dropped;
    }
}
