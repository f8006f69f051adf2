package dev.tcpinspect.ebpf;

/**
 * A program's attachment to a hook. Closing it detaches the program; closing the {@link BpfObject}
 * closes every link made from its programs.
 */
public sealed interface Link extends AutoCloseable permits LibbpfLink, KernelLink, TcLink, SocketFilterLink {
    /** Where the program is attached, for messages. */
    String describe();

    @Override
    void close();
}
