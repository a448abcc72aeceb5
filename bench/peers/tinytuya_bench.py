#!/usr/bin/env python3
"""tinytuya's figures for bench/compare, as JSON lines on stdout (one object per figure).

  tinytuya_bench.py readall FIGURE DEVICES.json [--limit K]
      One device after another: OutletDevice(id, ip, key, version) then .status(); wall time for
      all. With --limit K only the first K devices are read and the time is extrapolated to all
      of them (said so in "detail").
  tinytuya_bench.py rtt DEVICES.json [--commands N]
      Per device (one per version): one persistent socket, N sequential set_value(1, v) with v
      alternating, each checked against the returned status; rtt_p50_<v> and rtt_p99_<v> in ms.

--no-wait (either form): set_sendWait(None), tinytuya without the 10 ms sleep it makes after each
send by default; its lines carry "variant": "no-wait".

Every address comes from DEVICES.json (the simulator's, 127.0.0.0/8), with the version given:
tinytuya never scans or broadcasts. Progress and errors go to stderr.
"""

import argparse
import json
import sys
import time

import tinytuya


def emit(figure, value, unit, n=None, detail=None):
    o = {"figure": figure, "tool": "tinytuya", "value": value, "unit": unit}
    if NO_WAIT:
        o["variant"] = "no-wait"
    if n is not None:
        o["n"] = n
    if detail:
        o["detail"] = detail
    print(json.dumps(o), flush=True)


NO_WAIT = False  # --no-wait: set_sendWait(None), no sleep after each send


def device(d):
    ver = float(d.get("version") or 3.3)
    dev = tinytuya.OutletDevice(d["id"], d["ip"], d["key"], version=ver)
    dev.set_socketTimeout(5)
    dev.set_socketRetryLimit(2)
    if NO_WAIT:
        dev.set_sendWait(None)
    return dev


def wait_words():
    if NO_WAIT:
        return "set_sendWait(None) (no sleep after each send; tinytuya's default sleeps 0.01 s)"
    return "sendWait 0.01 s (its default: a sleep after each send; see the --no-wait run)"


def readall(a):
    devices = json.load(open(a.devices))
    total = len(devices)
    todo = devices[: a.limit] if a.limit else devices
    failed = []
    t0 = time.perf_counter()
    for i, d in enumerate(todo):
        dev = device(d)
        r = dev.status()
        dev.close()
        if not (isinstance(r, dict) and r.get("dps")):
            failed.append((d["id"], r))
        if (i + 1) % 250 == 0:
            print("tinytuya: %d/%d read, %.1f s" % (i + 1, len(todo), time.perf_counter() - t0), file=sys.stderr)
    wall = time.perf_counter() - t0
    detail = ["tinytuya %s, one device after another, %s" % (tinytuya.__version__, wait_words())]
    if failed:
        detail.append("%d of %d reads failed (first: %s %r)" % (len(failed), len(todo), failed[0][0], failed[0][1]))
    value = wall
    if len(todo) < total:
        value = wall * total / len(todo)
        detail.append("measured the first %d of %d devices (%.2f s), extrapolated linearly" % (len(todo), total, wall))
    emit(a.figure, round(value, 3), "s", n=total, detail="; ".join(detail))
    return 0 if not failed else 1


def pct(sorted_ms, p):
    return sorted_ms[int(round((len(sorted_ms) - 1) * p))]


def rtt(a):
    devices = json.load(open(a.devices))
    rc = 0
    for d in devices:
        ver = str(d.get("version"))
        dev = device(d)
        dev.set_socketPersistent(True)
        first = dev.status()
        if not (isinstance(first, dict) and first.get("dps")):
            print("tinytuya %s: first status failed: %r" % (ver, first), file=sys.stderr)
            rc = 1
            continue
        times = []
        bad = 0
        for i in range(a.commands):
            want = i % 2 == 0
            t = time.perf_counter()
            r = dev.set_value(1, want)
            times.append((time.perf_counter() - t) * 1000.0)
            if not (isinstance(r, dict) and r.get("dps", {}).get("1") == want):
                bad += 1
                if bad == 1:
                    print("tinytuya %s: set %d answered %r" % (ver, i, r), file=sys.stderr)
        dev.close()
        times.sort()
        detail = "tinytuya %s, set_socketPersistent(True), set_value(1, v), %s" % (tinytuya.__version__, wait_words())
        if bad:
            detail += "; %d of %d replies without the new value" % (bad, a.commands)
            rc = 1
        for p, q in (("p50", 0.5), ("p99", 0.99)):
            emit("rtt_%s_%s" % (p, ver), round(pct(times, q), 3), "ms", n=a.commands, detail=detail)
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("readall")
    r.add_argument("figure")
    r.add_argument("devices")
    r.add_argument("--limit", type=int, default=0)
    t = sub.add_parser("rtt")
    t.add_argument("devices")
    t.add_argument("--commands", type=int, default=500)
    for p in (r, t):
        p.add_argument("--no-wait", action="store_true", help="set_sendWait(None): no sleep after each send")
    a = ap.parse_args()
    global NO_WAIT
    NO_WAIT = a.no_wait
    return readall(a) if a.cmd == "readall" else rtt(a)


if __name__ == "__main__":
    sys.exit(main())
