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

# The simulator holds N listeners, the bridge N connections.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d)
mosq=""; sim=""
cleanup() {
  for p in $sim $mosq; do kill "$p" 2>/dev/null || true; done
  for p in $sim $mosq; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf="$dir/mosquitto.conf"
start_mosquitto() {
  "$MOSQUITTO" -c "$conf" >"$dir/mosquitto.log" 2>&1 &
  mosq=$!
  for _ in $(seq 1 100); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$mosq" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n' "$port" >"$conf"
cp "$conf" "$dir/base.conf"
# TCP_NODELAY on the broker's sockets unless BROKER_NODELAY=0 (see above).
[ "${BROKER_NODELAY:-1}" = 1 ] && echo 'set_tcp_nodelay true' >>"$dir/base.conf" && cp "$dir/base.conf" "$conf"
echo 'max_inflight_messages 0' >>"$conf"
if ! start_mosquitto; then
  # Older brokers may refuse the option: run without it.
  kill "$mosq" 2>/dev/null || true; wait "$mosq" 2>/dev/null || true
  cp "$dir/base.conf" "$conf"
  start_mosquitto || { cat "$dir/mosquitto.log" >&2; echo "mosquitto did not start" >&2; exit 1; }
fi

$T sim --fleet "$N" --base-ip 127.48.0.1 --versions 3.3 --write-devices "$dir/devices.json" \
  --quiet --announce 0 </dev/null >"$dir/sim.log" 2>&1 &
sim=$!
for _ in $(seq 1 1200); do
  [ -s "$dir/devices.json" ] && grep -q '^listening' "$dir/sim.log" && break
  kill -0 "$sim" 2>/dev/null || { cat "$dir/sim.log" >&2; echo "the simulator exited" >&2; exit 1; }
  sleep 0.1
done
grep -q '^listening' "$dir/sim.log" || { echo "the simulator did not listen within 120 s" >&2; exit 1; }

echo "$($MOSQUITTO -h 2>/dev/null | head -1); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "mosquitto: $(grep -v '^listener' "$conf" | tr '\n' ';' | sed 's/;$//')"
echo "sim: $(cat "$dir/sim.log")"
BENCH_PEERS="mosquitto=$mosq,simulator=$sim" "$B" $json "${BRIDGE_BIN:-$T}" "$port" "$dir/devices.json" "$COMMANDS" 1>&3 || { tail -20 "$dir"/bridge-*.log >&2 2>/dev/null || true; exit 1; }
