#!/usr/bin/env bash
# rustuya-bridge (pyrustuyabridge 0.4.4, its bridge embedded in a Python process) with N simulated
# devices (default 1000) through one Mosquitto on loopback, measured as bench/bridge.sh measures
# tuyactl bridge: start-up, time from adding the devices until every device's state is on MQTT,
# command round trips through the broker, memory per device. See README.md beside this file.
# Usage: bench/rustuya-bridge/run.sh [--json] [N] [COMMANDS]   (uses 127.49.0.0/16 and one free port on 127.0.0.1)
# Prints the figures as JSON lines on stdout ({"figure", "tool": "rustuya-bridge", "value",
# "unit"}) and the full human report on stderr (--json is accepted and changes nothing).
# Needs mosquitto (/usr/sbin/mosquitto) and python3 with venv; makes target/bench-venv (PyPI).
# BROKER_NODELAY=0: Mosquitto's stock Nagle, as in bench/bridge.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
args=()
for a in "$@"; do [ "$a" = --json ] || args+=("$a"); done
N=${args[0]:-1000}; COMMANDS=${args[1]:-300}
exec 3>&1 1>&2   # stdout: the JSON lines only
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
[ -x "$MOSQUITTO" ] || { echo "mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }

VENV=target/bench-venv
PKG=pyrustuyabridge==0.4.4
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("pyrustuyabridge") != "0.4.4")' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet "$PKG"
fi

# The simulator (tuyactl sim) and the observer (the bench example, shared with bench/bridge.sh).
cargo build --release -p tuyactl -p tuya-bridge --bin tuyactl --example bench
T=target/release/tuyactl
B=target/release/examples/bench

BASE_IP=127.49.0.1
# shellcheck source=bench/lib/broker-and-fleet.sh
source bench/lib/broker-and-fleet.sh
echo "rustuya-bridge: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("pyrustuyabridge", m.version("pyrustuyabridge"))'), $("$VENV/bin/python" --version)"
BENCH_PEERS="mosquitto=$mosq,simulator=$sim" "$B" --json --rustuya "$VENV/bin/python" \
  bench/rustuya-bridge/host.py "$port" "$dir/devices.json" "$COMMANDS" 1>&3 \
  || { tail -20 "$dir"/rustuya-bridge.log >&2 2>/dev/null || true; exit 1; }
