"""A gateway's calls to its upstreams, for UpstreamProbeTest: per plan item, connects to HOST:PORT
(n times one after another, or all at once with "parallel"), sends "bytes" bytes, reads the answer
to its end, closes; prints what it saw itself as JSON: attempts and results by its own errno, and
each established connect's time to connect in microseconds."""
import errno
import json
import socket
import sys
import threading
import time

host, plan = sys.argv[1], json.loads(sys.argv[2])
lock = threading.Lock()
seen = {}


def one(item, counts):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if item.get("syncnt"):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, item["syncnt"])
    with lock:
        counts["attempts"] += 1
    t0 = time.monotonic()
    try:
        s.connect((host, item["port"]))
    except OSError as e:
        name = {errno.ECONNREFUSED: "refused", errno.ETIMEDOUT: "timed_out"}.get(e.errno, "other:" + str(e.errno))
        with lock:
            counts[name] = counts.get(name, 0) + 1
        s.close()
        return
    connect_us = int((time.monotonic() - t0) * 1e6)
    with lock:
        counts["established"] += 1
        counts["connect_us"].append(connect_us)
    try:
        s.sendall(b"x" * item.get("bytes", 100))
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError as e:
        with lock:
            counts["io_errors"] += 1
    s.close()


def run(item):
    counts = {"attempts": 0, "established": 0, "io_errors": 0, "connect_us": []}
    seen[str(item["port"])] = counts
    if item.get("parallel"):
        threads = [threading.Thread(target=one, args=(item, counts)) for _ in range(item["n"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for _ in range(item["n"]):
            one(item, counts)
            time.sleep(item.get("pause", 0))


workers = [threading.Thread(target=run, args=(item,)) for item in plan]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps(seen))
