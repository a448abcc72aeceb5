#!/usr/bin/env bash
# Force-scan timing on loopback: a simulated fleet of N devices, scanned over a /24 and a /16,
# with devices.json as written (addresses known) and with addresses and versions blanked ("cold").
# Usage: bench/scan.sh N [PROBE_TIMEOUT_MS]   (uses 127.9.0.0/16 only)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}; PT=${2:-300}
T=target/release/tuyactl
[ -x "$T" ] || cargo build --release -p tuyactl
dir=$(mktemp -d)
$T sim --fleet "$N" --base-ip 127.9.0.1 --versions 3.1,3.3,3.4,3.5 --write-devices "$dir/devices.json" </dev/null >"$dir/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 600); do grep -q listening "$dir/sim.log" 2>/dev/null && break; kill -0 $sim 2>/dev/null || { cat "$dir/sim.log"; exit 1; }; sleep 0.1; done
python3 - "$dir/devices.json" "$dir/cold.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for x in d:
    if x.get("ip"): x["ip"] = ""; x["version"] = ""
json.dump(d, open(sys.argv[2], "w"))
PY
for range in 127.9.0.0/24 127.9.0.0/16; do
  for keys in devices cold; do
    start=$(date +%s%N)
    found=$($T scan --subnet $range --devices "$dir/$keys.json" --json --probe-timeout "$PT" | python3 -c 'import sys,json; print([json.loads(l) for l in sys.stdin][-1]["summary"]["found"])')
    end=$(date +%s%N)
    echo "| $N | $range | $keys | $found | $(( (end - start) / 1000000 )) ms |"
  done
done
