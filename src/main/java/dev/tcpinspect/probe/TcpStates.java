package dev.tcpinspect.probe;

/**
 * Names of the kernel's TCP states (include/net/tcp_states.h), as ss and the tracepoints print them;
 * SharedLayoutTest checks each against the running kernel's BTF.
 */
public final class TcpStates {
    private static final String[] NAMES = {"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
        "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"};

    private TcpStates() {}

    public static String name(int state) {
        return state >= 0 && state < NAMES.length ? NAMES[state] : "STATE_" + state;
    }
}
