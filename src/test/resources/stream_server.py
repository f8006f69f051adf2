"""Upstreams that stream, for UpstreamProbeTest's stalls: an HTTP server answering GET with
Server-Sent Events (text/event-stream, one event every 100 ms), listening for each mode at the
address given as MODE=HOST:PORT (an IPv6 host in brackets):
  stopping    10 events, then nothing for PAUSE seconds (a stream that stalls), then 5 more, then close
  steady      an event every 100 ms for DURATION seconds, then close
  idle        one complete answer (Content-Length), then the connection stays open, idle
  unanswered  reads the request and never answers
Prints "ready" once every port listens. Runs until killed."""
import socket
import sys
import threading
import time

pause, duration = float(sys.argv[1]), float(sys.argv[2])
modes = dict(arg.split("=", 1) for arg in sys.argv[3:])


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


def events(conn, n, first):
    for i in range(n):
        conn.sendall(b"data: event %d\n\n" % (first + i))
        time.sleep(0.1)


def serve(mode, conn):
    with conn:
        if not read_request(conn):
            return
        if mode == "unanswered":
            while conn.recv(4096):
                pass
            return
        if mode == "idle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            while conn.recv(4096):
                pass
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
        if mode == "stopping":
            events(conn, 10, 0)
            time.sleep(pause)
            events(conn, 5, 10)
        else:
            events(conn, int(duration * 10), 0)


def listen(address):
    host, port = address.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(16)
    return s


def accept_loop(mode, s):
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(mode, conn), daemon=True).start()


listeners = [(mode, listen(address)) for mode, address in modes.items()]
for mode, s in listeners:
    threading.Thread(target=accept_loop, args=(mode, s), daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(3600)
