#!/usr/bin/env bash
# Interop proof for the simulator: tinytuya (pip tinytuya==1.20.0) and TuyAPI (npm tuyapi 7.7.1)
# must accept `tuyactl sim` devices of every version, unmodified. Each suite gets its own
# simulator (one device per version 3.1, 3.3, 3.4, 3.5 on 127.0.3.x), controlled through a FIFO
# on its standard input. All traffic stays on 127.0.0.0/8.
#
# Prints PASS/FAIL lines and a final "N passed, M failed"; exits non-zero if anything failed or
# a suite crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

HB_TIMEOUT=3 # seconds of silence after which a simulated device drops its client
VERSIONS=3.1,3.3,3.4,3.5
TMP=$(mktemp -d)
SIM_PID=""
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; fi
  exec 3>&- 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

total_pass=0
total_fail=0
fail_setup() {
  echo "FAIL $1: $2"
  total_fail=$((total_fail + 1))
}

# --- peers --------------------------------------------------------------------------------
. interop/lib/peers.sh
PY=$(python_venv "$(interop_venv_dir)" tinytuya==1.20.0) || fail_setup tinytuya "no virtualenv with tinytuya 1.20.0 (see above)"
npm_folder interop/tuyapi || fail_setup tuyapi "npm ci in interop/tuyapi failed"

# --- the simulator ------------------------------------------------------------------------
cargo build -q -p tuyactl >&2 || { fail_setup build "cargo build -p tuyactl failed"; echo "0 passed, 1 failed"; exit 1; }
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TUYACTL="$TARGET_DIR/debug/tuyactl"

# start_sim NAME SIM-ARGS...: runs the simulator with its stdin on a FIFO; sets SIM_* for the
# suites.
start_sim() {
  local name=$1
  shift
  export SIM_DEVICES="$TMP/$name-devices.json" SIM_CTL="$TMP/$name.ctl" SIM_OUT="$TMP/$name.out"
  export SIM_HEARTBEAT_TIMEOUT=$HB_TIMEOUT
  SIM_LOG="$TMP/$name.log"
  mkfifo "$SIM_CTL"
  : >"$SIM_OUT"
  "$TUYACTL" sim "$@" --heartbeat-timeout "$HB_TIMEOUT" --write-devices "$SIM_DEVICES" --seed 1 \
    <"$SIM_CTL" >"$SIM_OUT" 2>"$SIM_LOG" &
  SIM_PID=$!
  exec 3>"$SIM_CTL" # keep the FIFO open: suites open and close it per command
  for _ in $(seq 1 100); do
    grep -q '^listening:' "$SIM_OUT" && return 0
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "simulator did not start:" >&2
  tail -n 20 "$SIM_LOG" >&2
  return 1
}

stop_sim() {
  exec 3>&-
  kill "$SIM_PID" 2>/dev/null
  wait "$SIM_PID" 2>/dev/null
  SIM_PID=""
}

# run_suite NAME "SIM-ARGS" COMMAND...
run_suite() {
  local name=$1 sim_args=$2
  shift 2
  echo "== $name"
  # shellcheck disable=SC2086 # SIM-ARGS is a word list
  if ! start_sim "$name" $sim_args; then
    fail_setup "$name" "simulator did not start"
    return
  fi
  local out="$TMP/$name.result"
  timeout 150 "$@" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  if ! kill -0 "$SIM_PID" 2>/dev/null; then
    fail_setup "$name-simulator" "the simulator exited during the suite; its last log lines:"
    tail -n 30 "$SIM_LOG"
  fi
  stop_sim
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  p=$(echo "$line" | awk '{print $1+0}')
  f=$(echo "$line" | awk '{print $3+0}')
  if [ -z "$line" ]; then
    fail_setup "$name" "suite crashed (exit $rc) before its summary"
    tail -n 30 "$SIM_LOG" >&2
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
  fi
  if [ "${f:-0}" -ne 0 ] && [ -n "${INTEROP_VERBOSE:-}" ]; then tail -n 60 "$SIM_LOG" >&2; fi
  total_pass=$((total_pass + ${p:-0}))
  total_fail=$((total_fail + ${f:-0}))
}

FLEET="--versions $VERSIONS --fleet 4 --base-ip"
HOME_CFG="--config $ROOT/interop/tinytuya/home.json"
run_suite tinytuya "$FLEET 127.0.3.1" "${PY:-python3}" "$ROOT/interop/tinytuya/interop.py"
run_suite tuyapi "$FLEET 127.0.3.11" node "$ROOT/interop/tuyapi/interop.js"
# A home of the harder cases: 3.2, device22, gateways with children (3.3 and 3.4).
run_suite tinytuya-home "$HOME_CFG" "${PY:-python3}" "$ROOT/interop/tinytuya/home.py"
run_suite tuyapi-home "$HOME_CFG" node "$ROOT/interop/tuyapi/home.js"

echo "sim interop: tinytuya 1.20.0 and TuyAPI 7.7.1 against tuyactl sim ($VERSIONS; 3.2, device22, gateways)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
