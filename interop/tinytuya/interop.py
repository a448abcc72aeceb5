#!/usr/bin/env python3
"""Drives `tuyactl sim` with tinytuya (an implementation we did not write).

For every device in $SIM_DEVICES (tinytuya devices.json written by the simulator): read status,
set a DP and see it applied in the simulator, receive a change pushed through the simulator's
control channel, and keep a persistent connection alive across heartbeats for longer than the
device's silence timeout ($SIM_HEARTBEAT_TIMEOUT seconds).

The simulator's control channel: lines written to the FIFO $SIM_CTL, answers appended to the
file $SIM_OUT. Prints PASS/FAIL per case and ends with "N passed, M failed".
Never calls tinytuya's scanner: every address comes from devices.json (127.0.0.0/8 only).
"""

import json
import os
import sys
import time
import traceback

import tinytuya

DEVICES = json.load(open(os.environ["SIM_DEVICES"]))
CTL = os.environ["SIM_CTL"]
OUT = os.environ["SIM_OUT"]
HB_TIMEOUT = float(os.environ.get("SIM_HEARTBEAT_TIMEOUT", "3"))

passed = 0
failed = 0


def sim(cmd, timeout=5.0):
    """Sends one control command to the simulator and returns its answer line."""
    with open(OUT) as f:
        before = len(f.read().splitlines())
    with open(CTL, "w") as f:
        f.write(cmd + "\n")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(OUT) as f:
            lines = f.read().splitlines()
        if len(lines) > before:
            answer = lines[before]
            if not answer.startswith("ok"):
                raise AssertionError("simulator answered %r to %r" % (answer, cmd))
            return answer[3:]
        time.sleep(0.02)
    raise AssertionError("no answer from the simulator to %r" % cmd)


def sim_status(dev_id):
    return json.loads(sim("status " + dev_id))


def sim_info(dev_id):
    return json.loads(sim("info " + dev_id))


def case(name, fn):
    global passed, failed
    try:
        fn()
        print("PASS %s" % name, flush=True)
        passed += 1
    except Exception as e:  # every failure is a result, not a crash
        reason = str(e) or type(e).__name__
        print("FAIL %s: %s" % (name, reason.replace("\n", " ")), flush=True)
        if os.environ.get("INTEROP_VERBOSE"):
            traceback.print_exc()
        failed += 1
    # One client at a time, like real firmware: let the device see the last close.
    time.sleep(0.3)


def pick_dps(dev):
    """A DP to set (first Boolean, else Integer) and a different one to push."""
    mapping = dev.get("mapping") or {}
    kinds = {dp: m.get("type") for dp, m in mapping.items()}
    set_dp = next((dp for dp, t in kinds.items() if t == "Boolean"), None) or next(
        dp for dp, t in kinds.items() if t == "Integer"
    )
    push_dp = next(dp for dp in kinds if dp != set_dp)
    return set_dp, kinds[set_dp], push_dp, kinds[push_dp]


def next_value(kind, current, salt):
    if kind == "Boolean":
        return not bool(current)
    if kind == "Integer":
        return (int(current or 0) + 37 + salt) % 1000
    return "open" if current != "open" else "close"


def make(dev, persistent=False):
    d = tinytuya.Device(dev["id"], dev["ip"], dev["key"], version=float(dev["version"]))
    d.set_socketTimeout(3)
    d.set_socketRetryLimit(3)
    if persistent:
        d.set_socketPersistent(True)
    return d


def run_device(dev):
    ver = dev["version"]
    dev_id = dev["id"]
    set_dp, set_kind, push_dp, push_kind = pick_dps(dev)

    def status():
        d = make(dev)
        r = d.status()
        d.close()
        assert r and "dps" in r, "no dps in reply: %r" % (r,)
        want = sim_status(dev_id)
        assert r["dps"] == want, "tinytuya read %r, simulator has %r" % (r["dps"], want)

    def set_value():
        want = next_value(set_kind, sim_status(dev_id).get(set_dp), 0)
        d = make(dev)
        r = d.set_value(int(set_dp), want)
        d.close()
        assert r and r.get("dps", {}).get(set_dp) == want, "reply to set: %r" % (r,)
        got = sim_status(dev_id).get(set_dp)
        assert got == want, "simulator has %s=%r after setting %r" % (set_dp, got, want)

    conn = {}

    def push():
        d = conn["d"] = make(dev, persistent=True)
        first = d.status()
        assert first and "dps" in first, "no status on the persistent socket: %r" % (first,)
        conn["accepted"] = sim_info(dev_id)["accepted"]
        want = next_value(push_kind, sim_status(dev_id).get(push_dp), 1)
        sim("set %s %s=%s" % (dev_id, push_dp, json.dumps(want)))
        got = None
        deadline = time.time() + 5
        while time.time() < deadline:
            r = d.receive()
            if r and "dps" in r and push_dp in r["dps"]:
                got = r["dps"][push_dp]
                break
        assert got == want, "pushed %s=%r, tinytuya received %r" % (push_dp, want, got)

    def heartbeat():
        d = conn.get("d")
        assert d is not None, "no persistent connection (push case failed)"
        accepted = conn["accepted"]
        # Heartbeats for longer than the device's silence timeout, on the same socket.
        end = time.time() + HB_TIMEOUT * 2 + 1
        beats = 0
        # Devices answer a heartbeat with one empty frame: read just that (no retry for a
        # fuller answer, which would sit silent past the device's timeout).
        d.set_retry(False)
        while time.time() < end:
            d.heartbeat(nowait=False)
            pong = d.raw_recv[-1] if d.raw_recv else None
            assert pong is not None and pong.cmd == tinytuya.HEART_BEAT, "no heartbeat reply: %r" % (pong,)
            beats += 1
            time.sleep(HB_TIMEOUT / 3)
        d.set_retry(True)
        info = sim_info(dev_id)
        assert info["connected"], "the device dropped the connection despite heartbeats"
        assert info["accepted"] == accepted, "tinytuya had to reconnect (%d -> %d connections)" % (
            accepted, info["accepted"])
        r = d.status()
        assert r and "dps" in r, "status after %d heartbeats failed: %r" % (beats, r)
        assert sim_info(dev_id)["accepted"] == accepted, "status after heartbeats needed a new connection"

    def refresh():
        # Energy plugs: DPs 18-20 are reported on request (UPDATEDPS), as a push.
        want = {k: v for k, v in sim_status(dev_id).items() if k in ("18", "19", "20")}
        d = make(dev)
        r = d.updatedps([18, 19, 20])
        d.close()
        got = (r or {}).get("dps")
        assert got == want, "refresh returned %r, simulator has %r" % (r, want)

    case("status-%s" % ver, status)
    case("set-%s" % ver, set_value)
    if "18" in (dev.get("mapping") or {}):
        case("refresh-%s" % ver, refresh)
    case("push-%s" % ver, push)
    case("heartbeat-%s" % ver, heartbeat)
    if "d" in conn:
        conn["d"].close()


def main():
    devices = [d for d in DEVICES if not d.get("sub")]
    for dev in devices:
        assert dev["ip"].startswith("127."), "interop traffic must stay on loopback"
        run_device(dev)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
