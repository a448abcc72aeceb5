#!/usr/bin/env python3
"""Prints a Markdown table of criterion results under target/criterion/<group> (or ROOT/<group>).

Usage: criterion-table.py [GROUP] [ROOT]
"""
import json, pathlib, sys

group = sys.argv[1] if len(sys.argv) > 1 else "status_frame"
root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "target/criterion") / group
rows = {}
for est in sorted(root.glob("*/new/estimates.json")):
    name = est.parent.parent.name  # e.g. "encode+decode_3.3"
    kind, _, version = name.rpartition("_")
    ns = json.loads(est.read_text())["mean"]["point_estimate"]
    rows.setdefault(version, {})[kind] = ns
kinds = ["encode+decode", "decode", "split+decode"]
print("| version | " + " | ".join(f"{k} (ns)" for k in kinds) + " | encode+decode ops/s/core |")
print("|---|" + "---|" * (len(kinds) + 1))
for v in sorted(rows):
    r = rows[v]
    cells = [f"{r[k]:.0f}" if k in r else "-" for k in kinds]
    ops = f"{1e9 / r['encode+decode'] / 1e6:.2f} M" if "encode+decode" in r else "-"
    print(f"| {v} | " + " | ".join(cells) + f" | {ops} |")
