#!/usr/bin/env bash
# The MQTT bridge with N simulated devices (default 1000) through one Mosquitto on loopback:
# start-up until every device is online with a state, command round trips, memory per device.
# Usage: bench/bridge.sh [--json] [N] [COMMANDS]   (uses 127.48.0.0/16 and one free port on 127.0.0.1)
# --json: the headline figures as JSON lines on stdout ({"figure", "tool": "tuyactl", "value",
#   "unit"}: bridge_startup, bridge_all_states_N, bridge_rtt_p50/p99 of the QoS 0 commands,
#   bridge_mem_per_device), the human report on stderr. bench/rustuya-bridge/run.sh prints the
#   same figures for rustuya-bridge.
# Needs mosquitto (/usr/sbin/mosquitto, Debian's package). Builds release binaries first.
# BRIDGE_BIN=path: the tuyactl whose bridge is measured (default: this build; for A/B runs).
# BROKER_NODELAY=0: Mosquitto's stock Nagle (set_tcp_nodelay false), which adds a ~40 ms
#   delayed-ACK stall to every command round trip whatever the bridge does; the default (1)
#   sets set_tcp_nodelay true so that the bridge, not the broker, is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
json=""; args=()
for a in "$@"; do if [ "$a" = --json ]; then json=--json; else args+=("$a"); fi; done
N=${args[0]:-1000}; COMMANDS=${args[1]:-300}
# With --json, stdout carries only the JSON lines (fd 3); everything else goes to stderr.
if [ -n "$json" ]; then exec 3>&1 1>&2; else exec 3>&1; fi
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
[ -x "$MOSQUITTO" ] || { echo "mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }

# One invocation: one feature resolution, so a second run rebuilds nothing.
cargo build --release -p tuyactl -p tuya-bridge --bin tuyactl --example bench
T=target/release/tuyactl
B=target/release/examples/bench

BASE_IP=127.48.0.1
# shellcheck source=bench/lib/broker-and-fleet.sh
source bench/lib/broker-and-fleet.sh
BENCH_PEERS="mosquitto=$mosq,simulator=$sim" "$B" $json "${BRIDGE_BIN:-$T}" "$port" "$dir/devices.json" "$COMMANDS" 1>&3 || { tail -20 "$dir"/bridge-*.log >&2 2>/dev/null || true; exit 1; }
