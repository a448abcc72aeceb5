#!/usr/bin/env bash
# The soak under faults (crates/tuya-soak, docs/soak.md): about 60 s of a simulated fleet of
# every version (gateways included) on 127.60.x.x under rotating faults, the client fleet and the
# MQTT bridge over a Mosquitto on a free 127.0.0.1 port that is restarted mid-run. No traffic
# leaves loopback; nothing is broadcast.
#
# Prints the figures, one line per check and a final "N passed, M failed"; exits non-zero if a
# check failed or the rig could not start. SOAK_SECONDS, SOAK_DEVICES and SOAK_SEED override
# the defaults (the seed is printed: rerun with it to replay the fault schedule).
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_=${SOAK_SECONDS:-60}
DEVICES=${SOAK_DEVICES:-12}
SEED_ARGS=()
if [ -n "${SOAK_SEED:-}" ]; then SEED_ARGS=(--seed "$SOAK_SEED"); fi

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "FAIL soak: mosquitto is not installed (apt-get install mosquitto)"
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Debug profile: the suite has built it already.
cargo run -q -p tuya-soak -- --seconds "$SECONDS_" --devices "$DEVICES" "${SEED_ARGS[@]}" >"$log" 2>&1
rc=$?
cat "$log"
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$log"; then
  # The rig did not start (or the run crashed): still a summary line for the counts.
  echo "FAIL soak: no figures (exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$rc"
