package dev.tcpinspect.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tcpinspect.lab.Lab;
import dev.tcpinspect.lab.Traffic;
import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.RequiresBpf;
import dev.tcpinspect.testing.TcpinspectProcess;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * watch's line table through a pipe, as a script reads it: every table line fits --width, and
 * without it 120 columns (the width a pipe gets, having no terminal's), which every probe's columns
 * would overflow, so the fitting is what keeps it there.
 */
@RequiresBpf
class TableWidthCliTest {
    @Test
    void throughAPipeTheTableFitsItsWidthAndDefaultsTo120() throws Exception {
        try (Lab lab = Lab.create();
             var echo = Traffic.listen(lab.server(), Lab.SERVER_V4, 8080)) {
            for (int width : new int[] {80, 0}) {
                List<String> args = new ArrayList<>(List.of("watch", "-i", lab.serverIf(), "--duration", "2.5"));
                if (width > 0) {
                    args.addAll(List.of("--width", Integer.toString(width)));
                }
                Thread traffic = Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < 10; i++) {
                        Traffic.connect(lab.client(), Lab.SERVER_V4, 8080, 5);
                        try {
                            Thread.sleep(200);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                Cmd.Result r = TcpinspectProcess.run(lab.serverNs(), args.toArray(String[]::new));
                traffic.join();
                assertEquals(0, r.exit(), r.err());
                List<String> lines = r.out().lines().toList();
                assertTrue(lines.getFirst().startsWith("Watching incoming TCP on " + lab.serverIf()), r.out());
                // the table: from the header after the ready line to the blank line before the summary
                List<String> table = lines.subList(1, lines.indexOf(""));
                assertTrue(table.size() >= 3, "a header and an interval's line at least: " + r.out());
                int limit = width > 0 ? width : 120;
                int widest = table.stream().mapToInt(String::length).max().orElseThrow();
                assertTrue(widest <= limit, "a table line of " + widest + " columns, over " + limit + ":\n" + r.out());
                if (width == 0) {
                    assertTrue(widest > 80, "the default's room used (" + widest + " columns):\n" + r.out());
                }
                System.out.println("table width " + (width > 0 ? "--width " + width : "by default") + ": widest line "
                        + widest + " columns");
            }
        }
    }
}
