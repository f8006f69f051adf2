package dev.tcpinspect.probe;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.function.Predicate;

/**
 * The last episodes a detection probe saw, for its summary table: an episode's start, replaced by
 * its end when it ends. Bounded: the oldest go first. Not thread-safe: its probe guards it.
 */
public final class EpisodeHistory<E> {
    private static final int KEPT = 100;
    private final Deque<E> episodes = new ArrayDeque<>();

    /** An episode that started, or ended (then its start, the one sameStart matches, is replaced). */
    public void add(E episode, boolean ended, Predicate<E> sameStart) {
        if (ended) {
            episodes.removeIf(sameStart);
        }
        episodes.addLast(episode);
        while (episodes.size() > KEPT) {
            episodes.removeFirst();
        }
    }

    /** Oldest first. */
    public List<E> list() {
        return List.copyOf(episodes);
    }
}
