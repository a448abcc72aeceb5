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

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d)
mosq=""; sim=""
cleanup() {
  for p in $sim $mosq; do kill "$p" 2>/dev/null || true; done
  for p in $sim $mosq; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# The broker exactly as bench/bridge.sh configures it.
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
[ "${BROKER_NODELAY:-1}" = 1 ] && echo 'set_tcp_nodelay true' >>"$dir/base.conf" && cp "$dir/base.conf" "$conf"
echo 'max_inflight_messages 0' >>"$conf"
if ! start_mosquitto; then
  kill "$mosq" 2>/dev/null || true; wait "$mosq" 2>/dev/null || true
  cp "$dir/base.conf" "$conf"
  start_mosquitto || { cat "$dir/mosquitto.log" >&2; echo "mosquitto did not start" >&2; exit 1; }
fi

# The same fleet as bench/bridge.sh's (same ids, keys and mix), on 127.49.0.1 upwards.
$T sim --fleet "$N" --base-ip 127.49.0.1 --versions 3.3 --write-devices "$dir/devices.json" \
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
echo "rustuya-bridge: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("pyrustuyabridge", m.version("pyrustuyabridge"))'), $("$VENV/bin/python" --version)"
BENCH_PEERS="mosquitto=$mosq,simulator=$sim" "$B" --json --rustuya "$VENV/bin/python" \
  bench/rustuya-bridge/host.py "$port" "$dir/devices.json" "$COMMANDS" 1>&3 \
  || { tail -20 "$dir"/rustuya-bridge.log >&2 2>/dev/null || true; exit 1; }
