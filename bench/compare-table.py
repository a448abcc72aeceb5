#!/usr/bin/env python3
"""Prints bench/compare's table (Markdown) from its results.jsonl.

  python3 bench/compare-table.py [target/bench-compare/results.jsonl]

Records read (one JSON object a line; anything else is skipped):
  {"figure", "tool", "value", "unit", "n"?, "detail"?}   a measurement, as each part prints it
  {"expect": [figures], "tools": [tools]}                 rows shown even when nothing came
  {"failed": [figures], "tool", "reason"}                 why a figure is missing
  {"meta": "run" | "machine" | "versions", ...}

One row per figure and peer: tuyactl's value, the peer's, and how many times better tuyactl is
in the figure's own terms ("93× faster", "3.1× less memory"; "2.0× slower" when it is not).
Lower is better for s, ms, KiB, % and instr; higher for cmd/s and frames/s.
"""

import json
import re
import sys
from collections import OrderedDict

LOWER = {"s", "ms", "KiB", "%", "instr"}
HIGHER = {"cmd/s", "frames/s"}
WORDS = {  # unit: (better, worse)
    "s": ("faster", "slower"),
    "ms": ("faster", "slower"),
    "KiB": ("less memory", "more memory"),
    "%": ("less CPU", "more CPU"),
    "instr": ("fewer instructions", "more instructions"),
    "cmd/s": ("more commands/s", "fewer commands/s"),
    "frames/s": ("faster", "slower"),
}
TOOL_ORDER = ["tuyactl", "tinytuya", "tinytuya/no-wait", "tuyapi", "rustuya-core", "rustuya-bridge"]
FAMILY_ORDER = ["readall_", "rtt_", "cmds_per_sec_", "mem_per_device_", "idle_cpu_", "connect_",
                "bridge_", "codec_"]


def unit_of(fig):
    """The unit a figure id is reported in (for rows that have no value)."""
    for pre, u in (("readall_", "s"), ("rtt_", "ms"), ("cmds_per_sec_", "cmd/s"), ("mem_per_device_", "KiB"),
                   ("idle_cpu_", "%"), ("connect_", "s"), ("bridge_all_states_", "s"), ("bridge_rtt_", "ms"),
                   ("bridge_mem_", "KiB"), ("bridge_startup", "s")):
        if fig.startswith(pre):
            return u
    if fig.startswith("codec_"):
        return "frames/s" if fig.endswith("_per_sec") else "instr" if fig.endswith("_instr") else ""
    return ""


def label(fig):
    """A short human name for a figure id."""
    m = re.fullmatch(r"readall_(\d+)", fig)
    if m:
        return "read all states, %s devices" % m[1]
    m = re.fullmatch(r"rtt_(p\d+)_(.+)", fig)
    if m:
        return "round trip %s, %s" % (m[1], m[2])
    m = re.fullmatch(r"cmds_per_sec_(\d+)", fig)
    if m:
        return "commands/s, %s devices" % m[1]
    m = re.fullmatch(r"mem_per_device_(\d+)", fig)
    if m:
        return "memory per device, %s devices" % m[1]
    m = re.fullmatch(r"idle_cpu_per_(\d+)", fig)
    if m:
        return "idle CPU per %s devices" % m[1]
    m = re.fullmatch(r"connect_(\d+)", fig)
    if m:
        return "connect %s devices" % m[1]
    m = re.fullmatch(r"bridge_all_states_(\d+)", fig)
    if m:
        return "bridge: all states, %s devices" % m[1]
    m = re.fullmatch(r"bridge_rtt_(p\d+)", fig)
    if m:
        return "bridge: command round trip %s" % m[1]
    if fig == "bridge_startup":
        return "bridge: start-up"
    if fig == "bridge_mem_per_device":
        return "bridge: memory per device"
    m = re.fullmatch(r"codec_(.+)_per_sec", fig)
    if m:
        return "codec %s, frames/s per core" % m[1]
    m = re.fullmatch(r"codec_(.+)_instr", fig)
    if m:
        return "codec %s, instructions per frame" % m[1]
    return fig


def fmt(v, unit):
    if not isinstance(v, (int, float)):
        return str(v)
    if unit in ("cmd/s", "frames/s"):
        if v >= 1e6:
            return "%.2f M" % (v / 1e6)
        return "{:,.0f}".format(v)
    if unit == "instr":
        return "{:,.0f}".format(v)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def times(r):
    return ("%.0f×" % r) if r >= 10 else ("%.1f×" % r)


def ratio(ours, peer, unit):
    """How many times better tuyactl is, in words."""
    if not all(isinstance(x, (int, float)) for x in (ours, peer)) or unit not in WORDS:
        return ""
    better, worse = WORDS[unit]
    if unit in LOWER:
        if ours <= 0 or peer <= 0:
            return ""
        r = peer / ours
    else:
        if ours <= 0 or peer <= 0:
            return ""
        r = ours / peer
    if 0.95 <= r <= 1.05:
        return "about the same (%s)" % times(r)
    if r > 1:
        return "**%s %s**" % (times(r), better)
    return "%s %s" % (times(1 / r), worse)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "target/bench-compare/results.jsonl"
    figures = OrderedDict()  # fig -> {tool: record}
    expected = OrderedDict()  # fig -> [tools]
    fails = {}  # (fig, tool) -> reason
    meta = {}
    for ln in open(path, errors="replace"):
        try:
            o = json.loads(ln)
        except ValueError:
            continue
        if not isinstance(o, dict):
            continue
        if "meta" in o:
            meta[o["meta"]] = o
        elif "expect" in o:
            for f in o["expect"]:
                tl = expected.setdefault(f, [])
                tl.extend(t for t in o.get("tools", []) if t not in tl)
        elif "failed" in o:
            for f in o["failed"]:
                fails.setdefault((f, o.get("tool")), o.get("reason", "failed"))
        elif "figure" in o and "tool" in o:
            # A variant of a tool (e.g. tinytuya without its send sleep) is a peer of its own.
            tool = o["tool"] + ("/" + o["variant"] if o.get("variant") else "")
            figures.setdefault(o["figure"], OrderedDict())[tool] = o

    order = list(expected)
    for f in figures:
        if f not in order:
            order.append(f)
    fam = lambda f: next((i for i, p in enumerate(FAMILY_ORDER) if f.startswith(p)), len(FAMILY_ORDER))
    order.sort(key=fam)  # stable: within a family, the order the parts gave

    versions = meta.get("versions", {})
    names = {
        "tuyactl": "tuyactl",
        "tinytuya": "tinytuya %s" % versions.get("tinytuya", ""),
        "tinytuya/no-wait": "tinytuya %s, set_sendWait(None)" % versions.get("tinytuya", ""),
        "tuyapi": "TuyAPI %s" % versions.get("tuyapi", ""),
        "rustuya-core": "rustuya-core %s" % versions.get("rustuya-core", ""),
        "rustuya-bridge": "rustuya-bridge (pyrustuyabridge %s)" % versions.get("pyrustuyabridge", ""),
    }

    notes = OrderedDict()  # text -> number

    def note(text):
        if text not in notes:
            notes[text] = len(notes) + 1
        return "[%d]" % notes[text]

    def cell(f, tool):
        rec = figures.get(f, {}).get(tool)
        if rec is not None:
            return fmt(rec.get("value"), rec.get("unit", "")), rec
        why = fails.get((f, tool)) or "not measured (no line from its part)"
        return "— " + note("%s: %s" % (names.get(tool, tool).strip(), why)), None

    run = meta.get("run", {})
    title = "bench/compare%s, %s" % (" --quick" if run.get("quick") else "", run.get("date", "?"))
    out = ["### %s" % title, ""]
    out.append("| figure | unit | tuyactl | peer | peer's figure | tuyactl vs peer |")
    out.append("|---|---|---|---|---|---|")
    for f in order:
        tools = list(expected.get(f, []))
        tools += [t for t in figures.get(f, {}) if t not in tools]
        tools.sort(key=lambda t: TOOL_ORDER.index(t) if t in TOOL_ORDER else len(TOOL_ORDER))
        peers = [t for t in tools if t != "tuyactl"]
        ours_txt, ours = cell(f, "tuyactl")
        unit = (ours or next(iter(figures.get(f, {}).values()), {})).get("unit") or unit_of(f)
        if not peers:
            out.append("| %s | %s | %s | — | | |" % (label(f), unit, ours_txt))
            continue
        for i, p in enumerate(peers):
            peer_txt, peer = cell(f, p)
            r = ratio(ours and ours.get("value"), peer and peer.get("value"), unit) if ours and peer else ""
            first = i == 0
            out.append("| %s | %s | %s | %s | %s | %s |" % (
                label(f) if first else "", unit if first else "", ours_txt if first else "",
                names.get(p, p).strip(), peer_txt, r))
    out.append("")

    # What each tool's figures mean (the parts' "detail"), grouped.
    details = OrderedDict()
    for f in order:
        for t, rec in figures.get(f, {}).items():
            d = rec.get("detail")
            if d:
                key = (t, d)
                details.setdefault(key, []).append((f, rec.get("n")))
    if details:
        out.append("How each was measured (the parts' own words):")
        out.append("")
        for (t, d), fs in details.items():
            ns = {n for _, n in fs}
            figs = ", ".join(f for f, _ in fs)
            if len(ns) == 1 and None not in ns and len(fs) > 1:
                figs += " (n = %s each)" % ns.pop()
            elif len(fs) == 1 and fs[0][1] is not None:
                figs += " (n = %s)" % fs[0][1]
            out.append("- %s, %s: %s" % (names.get(t, t).strip(), figs, d))
        out.append("")
    if notes:
        out.append("Missing figures:")
        out.append("")
        for text, n in notes.items():
            out.append("- [%d] %s" % (n, text))
        out.append("")

    m = meta.get("machine")
    if m:
        out.append("Machine: %s cores (`nproc`), %s MiB memory (`free -m`), %s; %s; load average at the end %s." % (
            m.get("cores"), m.get("memory_mib"), m.get("cpu"), m.get("kernel"), m.get("loadavg_at_end")))
        if run.get("loadavg_at_start"):
            out[-1] = out[-1][:-1] + " (at the start %s)." % run["loadavg_at_start"]
    if versions:
        out.append("Versions: tuyactl %s; tinytuya %s (Python %s); TuyAPI %s (Node %s); pyrustuyabridge %s; "
                   "rustuya-core %s; Mosquitto %s; %s." % (
                       versions.get("tuyactl"), versions.get("tinytuya"), versions.get("python"),
                       versions.get("tuyapi"), versions.get("node"), versions.get("pyrustuyabridge"),
                       versions.get("rustuya-core"), versions.get("mosquitto"), versions.get("rustc")))
    print("\n".join(out))


if __name__ == "__main__":
    main()
