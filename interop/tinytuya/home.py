#!/usr/bin/env python3
"""tinytuya against the harder simulated devices of interop/tinytuya/home.json: a 3.2 plug
(device22 by version), a 3.3 device22 plug (detected by tinytuya from its refusal), and 3.3 / 3.4
gateways with a Zigbee child each. Same control channel and output as interop.py."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop as c  # noqa: E402  (shared helpers: sim(), case(), counters)

import tinytuya  # noqa: E402

BY_NAME = {d["name"]: d for d in c.DEVICES}


def device(name, **kw):
    d = BY_NAME[name]
    dev = tinytuya.Device(d["id"], d["ip"], d["key"], version=float(d["version"]), **kw)
    dev.set_socketTimeout(3)
    dev.set_socketRetryLimit(3)
    return dev


def plain_cases(name):
    d = BY_NAME[name]
    ver = d["version"]

    def status():
        dev = device(name)
        r = dev.status()
        want = c.sim_status(d["id"])
        assert r and r.get("dps"), "no dps: %r" % (r,)
        # After detecting device22, tinytuya names only DP 1 unless told which DPs exist.
        assert all(want.get(k) == v for k, v in r["dps"].items()), "read %r, simulator has %r" % (r["dps"], want)
        assert dev.dev_type == "device22", "tinytuya did not switch to device22 (dev_type %r)" % dev.dev_type
        dev.set_dpsUsed({"1": None, "2": None})
        r = dev.status()
        dev.close()
        assert r and r.get("dps") == want, "read %r naming DPs 1 and 2, simulator has %r" % (r, want)

    def set_value():
        want = (c.sim_status(d["id"])["2"] + 5) % 100
        dev = device(name)
        r = dev.set_value(2, want)
        dev.close()
        assert r and r.get("dps", {}).get("2") == want, "reply to set: %r" % (r,)
        assert c.sim_status(d["id"])["2"] == want

    c.case("%s-status-%s" % (name, ver), status)
    c.case("%s-set-%s" % (name, ver), set_value)


def gateway_cases(gw_name, child_name):
    gw_d = BY_NAME[gw_name]
    child_d = BY_NAME[child_name]
    ver = gw_d["version"]
    cid = child_d["node_id"]
    assert child_d["parent"] == gw_d["id"] and child_d["sub"] is True
    gw = device(gw_name, persist=True)
    child = tinytuya.Device(child_d["id"], cid=cid, parent=gw)

    def child_status():
        r = child.status()
        assert r and r.get("dps") == c.sim_status("%s %s" % (gw_d["id"], cid)), "child status %r" % (r,)

    def child_set():
        want = not c.sim_status("%s %s" % (gw_d["id"], cid))["2"]
        r = child.set_value(2, want)
        assert r and r.get("dps", {}).get("2") == want, "reply to child set: %r" % (r,)
        assert c.sim_status("%s %s" % (gw_d["id"], cid))["2"] == want

    def child_push():
        want = c.sim_status("%s %s" % (gw_d["id"], cid))["1"] + 3
        c.sim("child %s %s 1=%d" % (gw_d["id"], cid, want))
        got = None
        deadline = time.time() + 5
        while time.time() < deadline and got is None:
            r = child.receive()
            if r and r.get("dps", {}).get("1") is not None:
                got = r["dps"]["1"]
        assert got == want, "pushed 1=%r to the child, tinytuya received %r" % (want, got)

    c.case("%s-child-status-%s" % (gw_name, ver), child_status)
    c.case("%s-child-set-%s" % (gw_name, ver), child_set)
    c.case("%s-child-push-%s" % (gw_name, ver), child_push)
    if ver == "3.4":
        def online():
            r = gw.subdev_query()
            assert r and cid in r.get("data", {}).get("online", []), "online query: %r" % (r,)
        c.case("%s-subdev-online-%s" % (gw_name, ver), online)
    gw.close()


def main():
    for d in c.DEVICES:
        assert d["ip"] in ("", None) or d["ip"].startswith("127."), "interop traffic must stay on loopback"
    plain_cases("plug32")
    plain_cases("device22")
    gateway_cases("gateway34", "sensor34")
    gateway_cases("gateway33", "sensor33")
    print("%d passed, %d failed" % (c.passed, c.failed), flush=True)
    return 0 if c.failed == 0 and c.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
