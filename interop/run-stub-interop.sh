#!/usr/bin/env bash
# Interop proof for the client: the tuyactl binary must control a @tuyapi/stub device (npm
# @tuyapi/stub 0.3.0, protocol 3.1, plaintext pushes, replies without a return code) — an
# implementation we did not write. The stub listens on 127.0.0.1 only and never broadcasts
# (see tuyapi-stub/stub.js). All traffic stays on 127.0.0.1.
#
# Prints PASS/FAIL per case and a final "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

ID=bf0123456789abcdef01
KEY=0123456789abcdef
PORT=${STUB_PORT:-46668}
TMP=$(mktemp -d)
STUB_PID=""
cleanup() {
  exec 3>&- 2>/dev/null
  if [ -n "$STUB_PID" ]; then kill "$STUB_PID" 2>/dev/null; wait "$STUB_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

pass=0
fail=0
result() { # NAME OK DETAIL
  if [ "$2" = 0 ]; then
    echo "PASS $1"
    pass=$((pass + 1))
  else
    echo "FAIL $1: $3"
    fail=$((fail + 1))
  fi
}
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

. interop/lib/peers.sh
npm_folder interop/tuyapi-stub || { result npm 1 "npm ci in interop/tuyapi-stub failed"; finish; }
cargo build -q -p tuyactl >&2 || { result build 1 "cargo build -p tuyactl failed"; finish; }
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TUYACTL="$TARGET_DIR/debug/tuyactl"

mkfifo "$TMP/ctl"
node interop/tuyapi-stub/stub.js "$ID" "$KEY" "$PORT" '{"1":false,"2":50}' \
  <"$TMP/ctl" >"$TMP/stub.out" 2>"$TMP/stub.err" &
STUB_PID=$!
exec 3>"$TMP/ctl"
for _ in $(seq 1 100); do
  grep -q '^listening' "$TMP/stub.out" && break
  sleep 0.1
done
grep -q '^listening' "$TMP/stub.out" || { result start 1 "stub did not start: $(cat "$TMP/stub.err")"; finish; }

DEV=(--id "$ID" --key "$KEY" --ip 127.0.0.1 --port "$PORT")
# stub_state: asks the stub for its state, prints the JSON.
stub_state() {
  local n
  n=$(grep -c '^state ' "$TMP/stub.out")
  echo state >&3
  for _ in $(seq 1 50); do
    [ "$(grep -c '^state ' "$TMP/stub.out")" -gt "$n" ] && break
    sleep 0.1
  done
  grep '^state ' "$TMP/stub.out" | tail -n 1 | cut -d' ' -f2-
}
# jcheck JSON PYTHON_EXPR: exit 0 if the expression over `j` holds.
jcheck() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$1" 2>/dev/null; }

# 1. get
out=$("$TUYACTL" get "${DEV[@]}" --version 3.1 --json 2>&1)
jcheck "$out" 'j["dps"]=={"1":False,"2":50} and j["version"]=="3.1"'
result "get (3.1)" $? "$out"

# 2. get with the version auto-detected (3.5, 3.4, 3.3 probes are ignored or refused first)
out=$("$TUYACTL" get "${DEV[@]}" --timeout 2 --json 2>&1)
jcheck "$out" 'j["version"]=="3.1" and j["dps"]["2"]==50'
result "get, version detected" $? "$out"

# 3. set one DP: acknowledged, reported, and really applied
out=$("$TUYACTL" set "${DEV[@]}" --version 3.1 --json 1=true 2>&1)
st=$(stub_state)
jcheck "$out" 'j["dps"]["1"]==True' && jcheck "$st" 'j["1"]==True'
result "set 1=true" $? "tuyactl: $out; stub: $st"

# 4. multi-DP set
out=$("$TUYACTL" set "${DEV[@]}" --version 3.1 --json 1=false 2=75 2>&1)
st=$(stub_state)
jcheck "$out" 'j["dps"]=={"1":False,"2":75}' && jcheck "$st" 'j=={"1":False,"2":75}'
result "multi-DP set 1=false 2=75" $? "tuyactl: $out; stub: $st"

# 5. a push from the stub's setProperty seen by monitor
: >"$TMP/mon.out"
"$TUYACTL" monitor "${DEV[@]}" --version 3.1 --json --for 5 >"$TMP/mon.out" 2>"$TMP/mon.err" &
MON=$!
for _ in $(seq 1 50); do
  grep -q '"event":"connected"' "$TMP/mon.out" && break
  sleep 0.1
done
echo 'set 2 99' >&3
wait $MON
mon_rc=$?
ok=1
if [ "$mon_rc" = 0 ] && grep -q '"event":"connected"' "$TMP/mon.out"; then
  while read -r line; do
    jcheck "$line" 'j["event"]=="change" and j["id"]=="'"$ID"'" and j["dps"].get("2")==99' && ok=0
  done <"$TMP/mon.out"
fi
result "monitor sees a setProperty push" $ok "rc=$mon_rc; $(tr '\n' ' ' <"$TMP/mon.out") $(cat "$TMP/mon.err")"

finish
