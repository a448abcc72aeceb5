#!/usr/bin/env bash
# Browser test of the bridge's web page: `tuyactl sim` serves the home of interop/web/home.json
# (3.3, 3.4 and 3.5 devices and a gateway with two sub-devices on 127.0.12.x), `tuyactl bridge
# --http` serves the page and API on a free 127.0.0.1 port, and headless Chromium (Debian's
# /usr/bin/chromium, driven by playwright-core 1.65.1) uses the page like a person would.
# interop/web/web.js starts the bridge itself (it restarts it to test reconnection and the
# token form); the simulator's standard input is a FIFO for its control channel. All traffic
# stays on 127.0.0.0/8.
#
# Prints PASS/FAIL lines and a final "N passed, M failed"; exits non-zero if anything failed.
# Artifacts (screenshots page.png and page-phone.png, logs) go to target/web-artifacts/;
# `--update-screenshot` also copies page.png to docs/web-page.png (the README's).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TMP=$(mktemp -d)
SIM_PID=""
cleanup() {
  if [ -f "$TMP/bridge.pid" ]; then kill "$(cat "$TMP/bridge.pid")" 2>/dev/null; fi
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; fi
  exec 3>&- 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

# fail_setup NAME WHY: nothing can be tested.
fail_setup() {
  echo "FAIL $1: $2"
  echo "web page: headless Chromium against tuyactl bridge --http and tuyactl sim"
  echo "0 passed, 1 failed"
  exit 1
}

# --- the browser and its driver -----------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
  fail_setup chromium "no Chromium at $CHROMIUM: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM to a Chromium binary"
fi
. interop/lib/peers.sh
npm_folder interop/web || fail_setup playwright-core "npm ci in interop/web failed"

# --- tuyactl ------------------------------------------------------------------------------
timeout 900 cargo build -q -p tuyactl >&2 || fail_setup build "cargo build -p tuyactl failed"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
TUYACTL="$TARGET_DIR/debug/tuyactl"
help=$("$TUYACTL" bridge --help 2>/dev/null)
grep -q -- '--http ' <<<"$help" || fail_setup bridge "tuyactl bridge has no --http option"

ARTIFACTS="$TARGET_DIR/web-artifacts"
mkdir -p "$ARTIFACTS"

# --- the simulator ------------------------------------------------------------------------
export SIM_DEVICES="$TMP/devices.json" SIM_CTL="$TMP/sim.ctl" SIM_OUT="$TMP/sim.out"
SIM_LOG="$ARTIFACTS/sim.log"
mkfifo "$SIM_CTL"
: >"$SIM_OUT"
"$TUYACTL" sim --config "$ROOT/interop/web/home.json" --write-devices "$SIM_DEVICES" --seed 1 \
  --announce 0 <"$SIM_CTL" >"$SIM_OUT" 2>"$SIM_LOG" &
SIM_PID=$!
exec 3>"$SIM_CTL" # keep the FIFO open: the test opens and closes it per command
started=""
for _ in $(seq 1 100); do
  if grep -q '^listening:' "$SIM_OUT"; then started=1; break; fi
  kill -0 "$SIM_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$started" ]; then
  tail -n 20 "$SIM_LOG" >&2
  fail_setup simulator "tuyactl sim did not start"
fi

# --- the page, in Chromium ----------------------------------------------------------------
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export TUYACTL CHROMIUM ARTIFACTS PORT
export BRIDGE_PID_FILE="$TMP/bridge.pid" BRIDGE_LOG="$ARTIFACTS/bridge.log"
# The README's screenshot is replaced only when asked (a test run leaves the tree clean).
if [ "${1:-}" = "--update-screenshot" ]; then export SCREENSHOT_COPY="$ROOT/docs/web-page.png"; fi
out="$TMP/web.result"
timeout 240 node "$ROOT/interop/web/web.js" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

pass=0
fail=0
if ! kill -0 "$SIM_PID" 2>/dev/null; then
  echo "FAIL simulator: it exited during the suite; its last log lines:"
  tail -n 30 "$SIM_LOG"
  fail=$((fail + 1))
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
if [ -z "$line" ]; then
  echo "FAIL web: the suite crashed (exit $rc) before its summary; the bridge's last log lines:"
  tail -n 30 "$BRIDGE_LOG" 2>/dev/null
  fail=$((fail + 1))
else
  p=$(echo "$line" | awk '{print $1+0}')
  f=$(echo "$line" | awk '{print $3+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p))
  fail=$((fail + f))
fi

echo "web page: headless Chromium ($("$CHROMIUM" --version 2>/dev/null | head -n 1)) against tuyactl bridge --http and tuyactl sim; artifacts in $ARTIFACTS"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
