#!/usr/bin/env python3
"""The loopback round trip itself, as the floor for the round-trip figures: a TCP echo between
two processes on 127.51.9.9:6999 (TCP_NODELAY both ways), 40-byte messages (about a small
frame), 5,000 sequential round trips; prints p50 and p99 in microseconds. Python's own overhead
is included, so the kernel's share is less.

  python3 bench/peers/loopback_rtt.py
"""

import os
import socket
import sys
import time

ADDR = ("127.51.9.9", 6999)
N = 5000


def serve(listener):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = conn.recv(64)
        if not data:
            os._exit(0)
        conn.sendall(data)


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(ADDR)
    listener.listen(1)
    if os.fork() == 0:
        serve(listener)
    listener.close()
    c = socket.create_connection(ADDR, timeout=10)
    c.settimeout(None)  # a timeout makes every recv a poll() and a recv(): not the floor
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(N):
        t = time.perf_counter()
        c.sendall(b"x" * 40)
        got = 0
        while got < 40:
            got += len(c.recv(64))
        times.append((time.perf_counter() - t) * 1e6)
    c.close()
    os.wait()
    times.sort()
    print("loopback TCP echo, %d round trips: p50 %.1f us, p99 %.1f us" % (N, times[N // 2], times[int(N * 0.99)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
