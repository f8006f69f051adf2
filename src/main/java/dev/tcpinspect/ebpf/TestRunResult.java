package dev.tcpinspect.ebpf;

/**
 * Outcome of BPF_PROG_TEST_RUN.
 *
 * @param verdict the program's return value (XDP_PASS, TC_ACT_OK, ...)
 * @param output the packet as the program left it
 * @param nsPerRun the kernel's average time per run, in nanoseconds
 */
public record TestRunResult(int verdict, byte[] output, long nsPerRun) {}
