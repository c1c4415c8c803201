#!/usr/bin/env bash
# P-conv side by side: qvlua's vaebench against PyTorch CPU (torch_pconv.py)
# on the same network, batch 100, Chimera C(6,6,4) prior with PCD 1000 × 10,
# K·D and Adam, plus the K = 1000 log-likelihood evaluation. The two run
# alternately, REPEATS rounds; every line is kept in $LOG, and the summary
# gives per work item the median (min–max) images/s of each side and the
# ratio of medians.
#
#   scripts/bench/pconv_vs_torch.sh              # 1 thread, process CPU time
#   MODE=wall THREADS=2 scripts/bench/pconv_vs_torch.sh
#
# VAEBENCH_BEFORE=path/to/another/vaebench adds a third side ("before",
# e.g. main's build) to every round.
#
# Needs: swift build -c release --product vaebench, and the venv
#   python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-1}
MODE=${MODE:-cpu}               # cpu: process CPU time (load-robust with 1 thread); wall
STEPS=${STEPS:-10}              # training steps timed per run (after 3 warm-up steps)
LL_IMAGES=${LL_IMAGES:-20}      # images per K = 1000 evaluation
VAEBENCH=${VAEBENCH:-.build/release/vaebench}
VAEBENCH_BEFORE=${VAEBENCH_BEFORE:-}
PY=${PY:-.venv-torch/bin/python}
LOG=${LOG:-/tmp/pconv_vs_torch.$$.log}
: > "$LOG"

run() {  # run NAME SIDE command...: appends "NAME SIDE images/s" to $LOG
  local name=$1 side=$2; shift 2
  local out; out=$("$@" </dev/null | tail -n 1)
  echo "$out" >&2
  echo "$name $side $(echo "$out" | grep -oE '[0-9.]+ images/s' | head -n 1 | cut -d' ' -f1)" >> "$LOG"
}

echo "# $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS, clock $MODE" >&2
qv_sides() { echo qvlua "$VAEBENCH"; [ -n "$VAEBENCH_BEFORE" ] && echo before "$VAEBENCH_BEFORE"; return 0; }
for r in $(seq "$REPEATS"); do
  for kd in "1 8" "1 1"; do
    set -- $kd
    while read -r side bin; do
      run "pconv_kd$(( $1 * $2 ))" "$side" "$bin" train --arch conv --prior chimera --k "$1" --d "$2" \
          --repeats $(( 2 * STEPS )) --threads "$THREADS" --clock "$MODE"
    done < <(qv_sides)
    run "pconv_kd$(( $1 * $2 ))" torch "$PY" scripts/bench/torch_pconv.py train --kd "$1,$2" --steps "$STEPS" \
        --threads "$THREADS" --clock "$MODE"
  done
  while read -r side bin; do
    run ll_k1000 "$side" "$bin" ll --arch conv --k 1000 --images "$LL_IMAGES" --repeats 30 --threads "$THREADS" --clock "$MODE"
  done < <(qv_sides)
  run ll_k1000 torch "$PY" scripts/bench/torch_pconv.py ll --k 1000 --images "$LL_IMAGES" --repeats 3 \
      --threads "$THREADS" --clock "$MODE"
done
echo "# done $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$LOG" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, side, v = line.split()
    rows.setdefault(name, {}).setdefault(side, []).append(float(v))
f = lambda x: f"{statistics.median(x):,.1f} ({min(x):,.1f}–{max(x):,.1f})" if x else "—"
print("| work | before (images/s) | qvlua (images/s) | PyTorch (images/s) | qvlua / PyTorch (medians) |")
print("|---|---|---|---|---|")
for name, s in rows.items():
    b, q, t = s.get("before", []), s.get("qvlua", []), s.get("torch", [])
    ratio = f"{statistics.median(q) / statistics.median(t):.2f}×" if q and t else "—"
    print(f"| {name} | {f(b)} | {f(q)} | {f(t)} | {ratio} |")
EOF
