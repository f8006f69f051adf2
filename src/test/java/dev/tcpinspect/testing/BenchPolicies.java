package dev.tcpinspect.testing;

import dev.tcpinspect.policy.Cidr;
import java.util.LinkedHashSet;
import java.util.Random;
import java.util.Set;

/** Policies the benchmarks share (bench/), so that their figures are of one policy. */
public final class BenchPolicies {
    private BenchPolicies() {}

    /**
     * The flood benchmark's 10,000 denied prefixes, quoted for a policy's deny list: half IPv4 in
     * 10.0.0.0/8 (/8 to /32), half IPv6 in 2001:db8::/32 (/32 to /128), drawn from a fixed seed.
     */
    public static Set<String> floodPrefixes() {
        Random random = new Random(42);
        Set<String> deny = new LinkedHashSet<>();
        while (deny.size() < 10_000) {
            boolean v6 = deny.size() % 2 == 1;
            byte[] a = new byte[v6 ? 16 : 4];
            random.nextBytes(a);
            if (v6) {
                a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = (byte) 0xb8;
            } else {
                a[0] = 10;
            }
            int length = v6 ? 32 + random.nextInt(97) : 8 + random.nextInt(25);
            deny.add("\"" + new Cidr(new Cidr(a, length).network(), length) + "\"");
        }
        return deny;
    }
}
