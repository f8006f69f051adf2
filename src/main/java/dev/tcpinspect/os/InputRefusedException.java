package dev.tcpinspect.os;

/**
 * What the user gave names something this host does not have (an interface, a namespace) or more
 * than tcpinspect can hold: refused as bad usage is (exit status 2), where any other failure is 1.
 * Kept apart from IllegalArgumentException, which also reports tcpinspect's own broken invariants.
 */
public class InputRefusedException extends IllegalArgumentException {
    public InputRefusedException(String message) {
        super(message);
    }
}
