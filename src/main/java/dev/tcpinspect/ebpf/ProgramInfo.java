package dev.tcpinspect.ebpf;

/** What the kernel says about a loaded program (bpf_prog_info): its id, type and name. */
public record ProgramInfo(int id, ProgramType type, String name) {}
