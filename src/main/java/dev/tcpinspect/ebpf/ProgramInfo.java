package dev.tcpinspect.ebpf;

/**
 * What the kernel says about a loaded program (bpf_prog_info): its id, type and name, how many
 * times the kernel skipped running it because it was already running on that CPU (recursion_misses,
 * kernel 5.12+; 0 where the kernel does not count them), and its runs and the time they took
 * (counted only while kernel.bpf_stats_enabled is 1; 0 otherwise).
 */
public record ProgramInfo(int id, ProgramType type, String name, long recursionMisses, long runTimeNanos,
                          long runCount) {}
