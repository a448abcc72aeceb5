#!/usr/bin/env bash
# Issue 13: tuya-proto's codec vs rustuya-core 0.4.6 on the same 3.3 and 3.5 status frames.
#
#   bench/codec/run.sh            # interop check, frames/s (median of RUNS x SECS), instr/frame
#
# stdout: one JSON line per figure and library:
#   {"figure": "codec_3.3_per_sec", "tool": "tuyactl", "value": 1234567, "unit": "frames/s"}
#   ... codec_3.5_per_sec, codec_3.3_instr, codec_3.5_instr ("unit": "instr")
# stderr: progress, the interop check, per-run figures and ratios.
#
# Environment: SECS (seconds per measurement, default 3), RUNS (runs per case, default 5),
# N (callgrind round trips; instructions/frame = (I(2N) - I(N)) / N, default 5000),
# SKIP_TIMING=1 / SKIP_CALLGRIND=1 to run only one half.
# Benchmarks report, never assert: the exit status is 0 unless something failed to run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
SECS="${SECS:-3}"
RUNS="${RUNS:-5}"
N="${N:-5000}"
bin="$here/target/release/codec-bench"

log() { printf '%s\n' "$*" >&2; }

log "== building (release) in $here"
cargo build --release --quiet --bin codec-bench 1>&2

log "== interop check"
if ! "$bin" --check; then
  log "interop check FAILED (reported above); figures follow anyway"
fi

if [ "${SKIP_TIMING:-0}" != 1 ]; then
  log "== frames/s: encode+decode round trips on one thread, ${RUNS} x ${SECS} s per case, interleaved"
  log "   (load average now: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
  "$bin" --no-check --secs "$SECS" --runs "$RUNS"
fi

if [ "${SKIP_CALLGRIND:-0}" != 1 ]; then
  if ! command -v valgrind >/dev/null; then
    log "valgrind not found: apt-get install -y valgrind; skipping instructions/frame"
    exit 0
  fi
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
  totals() {
    # Instructions executed by the whole program (callgrind's summary/totals line).
    local f="$1"
    valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$f" \
      "$bin" --callgrind "$2" "$3" "$4" 2>/dev/null >&2
    awk '/^(summary|totals):/ { print $2; exit }' "$f"
  }
  log "== instructions/frame: callgrind, (I(2N) - I(N)) / N with N = $N (start-up cancels)"
  for v in 3.3 3.5; do
    for lib in tuyactl rustuya-core rustuya-core-message; do
      a="$(totals "$out/$lib-$v-1" "$lib" "$v" "$N")"
      b="$(totals "$out/$lib-$v-2" "$lib" "$v" "$((2 * N))")"
      per=$(( (b - a) / N ))
      log "   $v $lib: I($N) = $a, I($((2 * N))) = $b -> $per instr/round trip"
      eval "instr_${v/./}_${lib//-/_}=$per"
      if [ "$lib" != rustuya-core-message ]; then
        printf '{"figure": "codec_%s_instr", "tool": "%s", "value": %s, "unit": "instr"}\n' \
          "$v" "$lib" "$per"
      fi
    done
  done
  for v in 33 35; do
    eval "o=\$instr_${v}_tuyactl r=\$instr_${v}_rustuya_core m=\$instr_${v}_rustuya_core_message"
    log "   ${v:0:1}.${v:1}: rustuya-core / tuyactl instructions = $(awk -v r="$r" -v o="$o" 'BEGIN{printf "%.2f", r/o}')x (message API: $(awk -v r="$m" -v o="$o" 'BEGIN{printf "%.2f", r/o}')x)"
  done
fi
