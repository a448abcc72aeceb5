#!/usr/bin/env python3
"""tuyactl's read-all figure for bench/compare (a JSON line on stdout).

  tuyactl_readall.py FIGURE TUYACTL DEVICES.json [--timeout SECS] [--repeat N]

Starts `TUYACTL monitor --devices DEVICES.json --json` and stops it (SIGTERM) once every device
of DEVICES.json has printed its first full state line (the "connected" event); the figure is the
wall time from spawning the process to that line, start-up included (the peers' figures start
after their own start-up and file parsing). Bounded by --timeout. With --repeat N, the process is
run N times and the figure is the median (a run takes tens of milliseconds, so one is noise).
"""

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure")
    ap.add_argument("tuyactl")
    ap.add_argument("devices")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()

    want = {d["id"] for d in json.load(open(a.devices))}
    walls = []
    errors = 0
    for _ in range(max(1, a.repeat)):
        r = once(a, want)
        if r is None:
            return 1
        walls.append(r[0])
        errors += r[1]
    walls.sort()
    wall = walls[len(walls) // 2]
    detail = "tuyactl monitor --json, spawn until every device's first state line"
    if len(walls) > 1:
        detail += "; median of %d runs (%.3f-%.3f s)" % (len(walls), walls[0], walls[-1])
    if errors:
        detail += "; %d error lines before that" % errors
    print(json.dumps({"figure": a.figure, "tool": "tuyactl", "value": round(wall, 3), "unit": "s", "n": len(want), "detail": detail}))
    return 0


def once(a, want):
    """One run: (wall seconds, error lines), or None (said on stderr) when it did not finish."""
    seen = set()
    errors = 0
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [a.tuyactl, "monitor", "--devices", a.devices, "--json"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.set_blocking(p.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = t0 + a.timeout
    wall = None
    while wall is None and time.perf_counter() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.perf_counter())):
            continue
        chunk = p.stdout.read()
        if chunk is None:
            continue
        if not chunk:
            break  # monitor exited
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for ln in lines:
            try:
                o = json.loads(ln)
            except ValueError:
                continue
            if o.get("event") == "connected" and o.get("id") in want and "cid" not in o:
                seen.add(o["id"])
                if len(seen) == len(want):
                    wall = time.perf_counter() - t0
                    break
            elif o.get("event") == "error":
                errors += 1
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if wall is None:
        why = "exited" if p.returncode is not None and time.perf_counter() < deadline else "timed out after %.0f s" % a.timeout
        print("tuyactl monitor %s: %d of %d devices connected, %d error lines" % (why, len(seen), len(want), errors), file=sys.stderr)
        return None
    return wall, errors


if __name__ == "__main__":
    sys.exit(main())
