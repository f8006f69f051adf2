package dev.tcpinspect.ebpf;

/**
 * What the kernel says about a loaded program (bpf_prog_info): its id, type and name, and how many
 * times the kernel skipped running it because it was already running on that CPU (recursion_misses,
 * kernel 5.12+; 0 where the kernel does not count them).
 */
public record ProgramInfo(int id, ProgramType type, String name, long recursionMisses) {}
