#!/usr/bin/env bash
# The nightly tier (docs/nightly.md, "The nightly recipe"): what is too heavy for every CI run.
#
#   bash scripts/nightly.sh [--dry-run] [--bundle DIR] [--false-rejects N]
#
# Steps, in this order (one machine, nothing else running: the benchmark and the false-reject count are only
# meaningful on a quiet machine), each logged to reports/nightly-<UTC>/<step>.log:
#   1. gate           npm run gate, compared with the history (drift of every key metric vs its run-to-run spread),
#                     with the WebGPU runtime's full plan (TINYDIT_WEBGPU_PLAN=full: every breed, every velocity batch)
#   2. kill-matrix    npm run gate:power on all three engines (every mutant rejected through an aimed check, both
#                     forms); first, once per machine, the early checkpoints its sc-under-trained-* mutants are made
#                     from (train.py --seed 1, the first 1,000 of 5,000 steps: about 15 min on one core)
#   3. false-rejects  npm run gate:power -- --false-rejects N (default 10): the good model through the full gate N times
#   4. bench          npm run bench, compared with the previous nights' bench files (slowdowns beyond the spread)
#   5. production     npm run production (the 33M-parameter tinydit_128 through contract, numeric and generation checks)
#   6. production-trained  npm run production -- --trained: a TRAINED tinydit_128 (trained once, ~60 min, cached in
#                     ~/.cache/tinydit-gate), its bundle, the gate on it (its 128 px plan: every Node family, the
#                     browsers' per-breed generation in the three engines) and the benchmark (docs/production-model.md)
# Every step runs even when an earlier one failed; the exit code is 1 when any failed, else 5 when a gate step was
# inconclusive (exit 5: the harness or the machine could not judge; rerun it), and the summary names them.
set -u
cd "$(dirname "$0")/.."

DRY=0
BUNDLE="${TINYDIT_BUNDLE:-fixtures/default}"
FALSE_REJECTS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --bundle) BUNDLE="$2"; shift ;;
    --false-rejects) FALSE_REJECTS="$2"; shift ;;
    *) echo "nightly: unknown option $1 (see the header of scripts/nightly.sh)" >&2; exit 2 ;;
  esac
  shift
done

OUT="reports/nightly-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
BENCH_BASELINES=()
for f in $(ls -1 reports/nightly-*/bench.json 2>/dev/null | tail -n 3); do BENCH_BASELINES+=(--baseline "$f"); done

declare -a FAILED=()
declare -a INCONCLUSIVE=()
step() {
  local name="$1"; shift
  echo "[nightly] $name: $*"
  [ "$DRY" = 1 ] && return 0
  local t0=$SECONDS
  if "$@" >"$OUT/$name.log" 2>&1; then
    echo "[nightly]   $name passed ($((SECONDS - t0)) s)"
  else
    local rc=$?
    if [ "$rc" = 5 ]; then
      # the gate's 'inconclusive': the harness or the machine could not judge; not a verdict on the model
      echo "[nightly]   $name INCONCLUSIVE (exit 5: harness or environment, see 'rerun' in its verdict.json) ($((SECONDS - t0)) s): $OUT/$name.log"
      INCONCLUSIVE+=("$name")
    else
      echo "[nightly]   $name FAILED with exit $rc ($((SECONDS - t0)) s): $OUT/$name.log"
      FAILED+=("$name")
    fi
  fi
}

GATE_BASELINE=()
[ -s reports/history.jsonl ] && GATE_BASELINE=(--baseline reports/history.jsonl)   # the first night has no history yet
# the full WebGPU plan (docs/webgpu.md): every breed's free generation and every velocity batch on WebGPU
step gate          env TINYDIT_WEBGPU_PLAN=full npm run --silent gate -- --bundle "$BUNDLE" "${GATE_BASELINE[@]}"
early_checkpoints() {
  [ -f reports/models/seed1/checkpoint.step1000.pt ] || /usr/bin/python3 reference/python/train.py --steps 5000 --stop-at 1000 \
    --seed 1 --threads 1 --keep-steps 250,500,1000 --out reports/models/seed1/checkpoint.pt
}
step early-checkpoints early_checkpoints
step kill-matrix   npm run --silent gate:power -- --bundle "$BUNDLE" --browsers chromium,firefox,webkit --out "$OUT/gate-power"
# false rejects, as CI and laptops run it: the good model N times, each on a fresh clone, one core kept busy meanwhile;
# rejected and inconclusive runs counted apart (scripts/series.ts)
step series        npx tsx scripts/series.ts --runs "$FALSE_REJECTS" --load 1 --bundle "$BUNDLE" --out "$OUT/series"
step bench         npm run --silent bench -- --bundle "$BUNDLE" --out "$OUT/bench.json" "${BENCH_BASELINES[@]}"
step production    npm run --silent production
step production-trained npm run --silent production -- --trained --rebuild --gate-args "--timeout-node 60"

if [ "$DRY" = 1 ]; then
  rmdir "$OUT" 2>/dev/null
  echo "[nightly] dry run: the commands above were printed, nothing ran"
  exit 0
fi
if [ "${#INCONCLUSIVE[@]}" -gt 0 ]; then
  echo "[nightly] INCONCLUSIVE (rerun; not the model): ${INCONCLUSIVE[*]} (logs in $OUT)"
fi
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "[nightly] FAILED: ${FAILED[*]} (logs in $OUT)"
  exit 1
fi
[ "${#INCONCLUSIVE[@]}" -gt 0 ] && exit 5
echo "[nightly] all steps passed (logs in $OUT)"
