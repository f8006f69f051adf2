"""A gateway's streaming calls, for UpstreamProbeTest's stalls: for each MODE=HOST:PORT (an
IPv6 host in brackets), one connection that sends a GET and reads what comes, each in its own
thread, until the server closes or HOLD seconds have passed since the start; prints, as JSON per
mode, when the request left ("sent") and when each read returned data ("received"), in seconds of
CLOCK_MONOTONIC (time.monotonic, the clock System.nanoTime reads), and the bytes received."""
import json
import socket
import sys
import threading
import time

hold = float(sys.argv[1])
targets = {}
for arg in sys.argv[2:]:
    mode, address = arg.split("=", 1)
    host, port = address.rsplit(":", 1)
    targets[mode] = (host.strip("[]"), int(port))
start = time.monotonic()
seen = {}


def call(mode, host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect((host, port))
    s.settimeout(0.1)
    record = {"sent": time.monotonic(), "received": [], "bytes": 0}
    s.sendall(b"GET /events HTTP/1.1\r\nHost: upstream\r\nAccept: text/event-stream\r\n\r\n")
    seen[mode] = record
    while time.monotonic() - start < hold:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        record["received"].append(time.monotonic())
        record["bytes"] += len(data)
    s.close()


threads = [threading.Thread(target=call, args=(mode, host, port)) for mode, (host, port) in targets.items()]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(seen))
