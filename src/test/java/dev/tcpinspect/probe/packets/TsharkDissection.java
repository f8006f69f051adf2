package dev.tcpinspect.probe.packets;

import dev.tcpinspect.testing.Cmd;
import dev.tcpinspect.testing.Pcap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * tshark's dissection of frames, for the fields the reference parser also has: whether a whole TCP
 * header follows the IP headers, its ports and flags, the IP fragment fields. One pcap, one tshark run.
 * Reassembly and TCP analysis are off: every frame stands alone, as BPF_PROG_TEST_RUN sees it.
 */
record TsharkDissection(int frame, String protocols, String upper, int vlanTags, Integer ipProtocol, Boolean ipMore,
                        Integer ipOffset, Boolean ipv6More, Integer ipv6Offset, Integer sport, Integer dport,
                        Integer flags, Integer headerLength, int optionBytes, Integer tcpLength, String malformed,
                        String expert) {

    private static final List<String> FIELDS = List.of("frame.number", "frame.protocols", "ip.proto", "ip.flags.mf",
            "ip.frag_offset", "ipv6.fraghdr.more", "ipv6.fraghdr.offset", "tcp.srcport", "tcp.dstport", "tcp.flags",
            "tcp.hdr_len", "tcp.options", "tcp.len", "_ws.malformed", "_ws.expert.message");
    /** What frame.protocols names for headers that come before the upper layer. */
    private static final Set<String> LINK = Set.of("ethertype", "vlan", "ieee8021ad");
    private static final Set<String> IPV6_EXTENSIONS = Set.of("ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr",
            "ipv6.dstopts", "ah");

    /**
     * tshark saw a whole TCP header right after the outer IP headers: TCP is the layer there, the flags
     * were read (tshark stops before them when the data offset is under 5) and no exception cut the TCP
     * dissection short (a header past the segment or past the frame). In a first fragment such an
     * exception is reported as an unreassembled fragment, not as malformed; with nothing dissected
     * after TCP it was TCP's own. A data offset past the segment's end is only an expert note ("Short
     * segment") when tshark can go on reading options from the bytes after the segment. An option
     * tshark cannot make sense of ends its reading of options without an exception, so the options'
     * bytes it shows (tcp.options, only what the frame holds) must fill the data offset too. A
     * malformed payload dissector (HTTP on port 80, ...) says nothing about the headers.
     */
    boolean wholeTcpHeader() {
        boolean cutInFragment = expert != null && expert.contains("Unreassembled fragment")
                && protocols.endsWith(":tcp");
        boolean pastSegment = expert != null && expert.contains("Short segment");
        return "tcp".equals(upper) && flags != null && headerLength != null && headerLength >= 20
                && (malformed == null || !malformed.contains("Malformed Packet: TCP")) && !cutInFragment
                && !pastSegment && 20 + optionBytes >= headerLength;
    }

    static List<TsharkDissection> of(List<byte[]> frames) {
        Path pcap = Pcap.write(frames);
        try {
            List<String> command = new ArrayList<>(List.of("tshark", "-n", "-r", pcap.toString(),
                    "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                    "-o", "tcp.analyze_sequence_numbers:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
                    "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f", "-E", "quote=n"));
            for (String field : FIELDS) {
                command.add("-e");
                command.add(field);
            }
            // _ws.expert.message and _ws.malformed want every occurrence; the others the outermost one.
            Cmd.Result firsts = Cmd.run(command, 300).ok();
            command.set(command.indexOf("occurrence=f"), "occurrence=a");
            Cmd.Result all = Cmd.run(command, 300).ok();
            List<String> firstLines = firsts.out().lines().toList();
            List<String> allLines = all.out().lines().toList();
            if (firstLines.size() != frames.size() || allLines.size() != frames.size()) {
                throw new IllegalStateException("tshark dissected " + firstLines.size() + " of " + frames.size()
                        + " frames: " + firsts.err());
            }
            List<TsharkDissection> out = new ArrayList<>(frames.size());
            for (int i = 0; i < frames.size(); i++) {
                String[] f = Arrays.copyOf(firstLines.get(i).split("\t", -1), FIELDS.size());
                String[] a = Arrays.copyOf(allLines.get(i).split("\t", -1), FIELDS.size());
                out.add(of(f, a));
            }
            return out;
        } finally {
            try {
                Files.deleteIfExists(pcap);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static TsharkDissection of(String[] f, String[] all) {
        String protocols = f[1];
        List<String> layers = List.of(protocols.split(":"));
        int i = 1; // after "eth"
        int tags = 0;
        while (i < layers.size() && LINK.contains(layers.get(i))) {
            tags += layers.get(i).equals("ethertype") ? 0 : 1;
            i++;
        }
        String upper;
        if (i < layers.size() && (layers.get(i).equals("ip") || layers.get(i).equals("ipv6"))) {
            boolean v6 = layers.get(i).equals("ipv6");
            i++;
            while (v6 && i < layers.size() && IPV6_EXTENSIONS.contains(layers.get(i))) {
                i++;
            }
            upper = i < layers.size() ? layers.get(i) : "";
        } else {
            upper = "not ip";
        }
        return new TsharkDissection(Integer.parseInt(f[0]), protocols, upper, tags, number(f[2]), bool(f[3]),
                number(f[4]), bool(f[5]), number(f[6]), number(f[7]), number(f[8]), number(f[9]), number(f[10]),
                f[11] == null ? 0 : f[11].replace(":", "").length() / 2, number(f[12]), blankToNull(all[13]),
                blankToNull(all[14]));
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static Integer number(String s) {
        if (s == null || s.isBlank()) {
            return null;
        }
        return s.startsWith("0x") ? Integer.parseInt(s.substring(2), 16) : Integer.parseInt(s);
    }

    private static Boolean bool(String s) {
        if (s == null || s.isBlank()) {
            return null;
        }
        return s.equals("1") || s.equalsIgnoreCase("true");
    }
}
