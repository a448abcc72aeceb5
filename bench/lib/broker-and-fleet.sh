# Sourced by bench/bridge.sh and bench/rustuya-bridge/run.sh, so that both bridges meet the
# same broker and the same simulated fleet: a private Mosquitto on a free 127.0.0.1 port and
# `tuyactl sim --fleet N` (3.3, the plug/bulb/cover mix) from BASE_IP upwards, both stopped on
# exit. Needs: MOSQUITTO, T (tuyactl), N, BASE_IP. Sets: dir, port, conf, mosq, sim.

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
# TCP_NODELAY on the broker's sockets unless BROKER_NODELAY=0 (see bench/bridge.sh).
[ "${BROKER_NODELAY:-1}" = 1 ] && echo 'set_tcp_nodelay true' >>"$dir/base.conf" && cp "$dir/base.conf" "$conf"
echo 'max_inflight_messages 0' >>"$conf"
if ! start_mosquitto; then
  # Older brokers may refuse the option: run without it.
  kill "$mosq" 2>/dev/null || true; wait "$mosq" 2>/dev/null || true
  cp "$dir/base.conf" "$conf"
  start_mosquitto || { cat "$dir/mosquitto.log" >&2; echo "mosquitto did not start" >&2; exit 1; }
fi

$T sim --fleet "$N" --base-ip "$BASE_IP" --versions 3.3 --write-devices "$dir/devices.json" \
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
