package dev.tcpinspect.output;

import dev.tcpinspect.snapshot.Desc;
import java.util.List;

/**
 * Which columns of the interval table fit a width: the time (8 characters), then the fixed-width
 * columns in their order while they fit (the first that does not ends them, so a table never has
 * a gap where a column was left out), then the variable-width ones (a map's top labels) with what
 * is left, each at least as wide as its title; one that cannot have that is left out.
 *
 * @param kept for each column given, whether the table shows it
 * @param budget for each kept variable column, the characters its cells may take after the two
 *     spaces that separate it; 0 for the others
 */
record TableFit(boolean[] kept, int[] budget) {
    /** The time column: "HH:mm:ss" or "UTC" padded. */
    static final int TIME_WIDTH = 8;

    static TableFit of(List<Desc.Column> columns, int width) {
        int n = columns.size();
        boolean[] kept = new boolean[n];
        int[] budget = new int[n];
        int used = TIME_WIDTH;
        boolean fits = true;
        for (int i = 0; i < n; i++) {
            Desc.Column c = columns.get(i);
            if (c.cell() != Desc.Column.Cell.TOP_LABELS) {
                // a cell is its width or its title, whichever is wider (String.format's %Ns)
                int w = 1 + Math.max(c.width(), c.title().length());
                fits &= used + w <= width;
                if (fits) {
                    kept[i] = true;
                    used += w;
                }
            }
        }
        // The variable columns share what is left; the last ones give way first.
        int variable = 0;
        for (Desc.Column c : columns) {
            variable += c.cell() == Desc.Column.Cell.TOP_LABELS ? 1 : 0;
        }
        for (int k = variable; k > 0; k--) {
            int share = (width - used) / k - 2;
            int seen = 0;
            boolean ok = true;
            for (int i = 0; i < n && seen < k; i++) {
                if (columns.get(i).cell() == Desc.Column.Cell.TOP_LABELS) {
                    seen++;
                    ok &= share >= columns.get(i).title().length();
                }
            }
            if (ok) {
                seen = 0;
                int left = width - used;
                for (int i = 0; i < n && seen < k; i++) {
                    if (columns.get(i).cell() == Desc.Column.Cell.TOP_LABELS) {
                        seen++;
                        kept[i] = true;
                        budget[i] = seen == k ? left - 2 : share; // the last takes the remainder
                        left -= 2 + share;
                    }
                }
                break;
            }
        }
        return new TableFit(kept, budget);
    }

    /** Whether column i is the last kept variable one (its cells are not padded). */
    boolean lastVariable(List<Desc.Column> columns, int i) {
        for (int j = i + 1; j < columns.size(); j++) {
            if (kept[j] && columns.get(j).cell() == Desc.Column.Cell.TOP_LABELS) {
                return false;
            }
        }
        return true;
    }
}
