package dev.tcpinspect.probe;

import java.util.List;

/**
 * A detection probe's rate alarm: so many a second start an alert, quietSeconds below half of it
 * end it. Its two settings (--set PROBE.KEY=N and PROBE.quiet=N) are read and checked here once for
 * every probe that has one.
 *
 * @param key the rate's setting name ("syn_rate", "rate")
 * @param perSecond the rate that starts an alert
 * @param quietSeconds the seconds below half of it that end one
 */
public record RateThreshold(String key, long perSecond, int quietSeconds) {
    /** The largest rate a setting takes. */
    static final long MAX_RATE = 1_000_000_000L;

    /** Its settings, the rate's described by help, with these values as their defaults. */
    public List<Setting> settings(String help) {
        return List.of(new Setting(key, Long.toString(perSecond), help),
                new Setting("quiet", Integer.toString(quietSeconds), "seconds below half that rate that end it"));
    }

    /** This threshold with one setting changed, or null when key is not one of its settings. */
    public RateThreshold with(String probe, String setting, String value) {
        if (setting.equals(key)) {
            return new RateThreshold(key, Setting.positive(probe, setting, value, MAX_RATE), quietSeconds);
        }
        if (setting.equals("quiet")) {
            return new RateThreshold(key, perSecond, (int) Setting.positive(probe, setting, value, Setting.MAX_SECONDS));
        }
        return null;
    }

    /** Whether a rate is low enough to count toward an alert's end. */
    public boolean calm(double rate) {
        return rate * 2 < perSecond;
    }
}
