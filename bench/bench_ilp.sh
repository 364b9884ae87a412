#!/usr/bin/env bash
# bench/bench_ilp.sh — the ILP benchmark of docs/benchmarks.md ("ILP: Checkmate on GLPK").
#
# For each model and budget: the compute overhead of sqrt, segment and dp; the ilp
# solve (status, wall time, gap, overhead); lp-round; and the very LP file the ilp
# solved (`--dump-lp`) handed to glpsol and, when installed, to CBC (Debian's
# coinor-cbc) under the same time limit, so the three MIP solvers can be compared
# on one model. The ilp objective is total compute in microseconds (forward and
# backward of every op plus recomputation), printed by `--verbose` as
# "attempt N: STATUS, compute X us (bound Y)"; glpsol and CBC print theirs.
#
# usage: bench/bench_ilp.sh [--remat PATH] [--time-limit S] [--only TEXT] [--quick] > rows.md
#   --only TEXT  only the cases whose label or granularity contains TEXT
#   --quick      one budget per model and a 5 s limit (checks the script itself)
# Prints Markdown tables on stdout and progress on stderr. Scratch files go to
# $TMPDIR/remat-bench-ilp.XXXX and are removed at exit.
set -euo pipefail

REMAT=build/planner/remat
TLIM=60
QUICK=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --remat) REMAT="$2"; shift 2 ;;
    --time-limit) TLIM="$2"; shift 2 ;;
    --quick) QUICK=1; TLIM=5; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_ilp: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$REMAT" ] || { echo "bench_ilp: $REMAT not found (build first: ninja -C build)" >&2; exit 1; }
GLPSOL=$(command -v glpsol || true)
CBC=$(command -v cbc || true)
W=$(mktemp -d "${TMPDIR:-/tmp}/remat-bench-ilp.XXXX")
trap 'rm -rf "$W"' EXIT

# label | model options | ilp granularity | budgets (largest first)
CASES=(
  "vgg16, batch 32|--model vgg16 --batch 32|op|4.0GiB 3.8GiB 3.6GiB"
  "unet, batch 8|--model unet --batch 8|op|3.0GiB 2.8GiB 2.7GiB"
  "resnet50, batch 64|--model resnet50 --batch 64|op|4.5GiB 3.0GiB 2.0GiB"
  "resnet50, batch 64|--model resnet50 --batch 64|module|4.5GiB 3.0GiB 2.0GiB"
  "resnet50, batch 64|--model resnet50 --batch 64|block|4.5GiB 3.0GiB 2.0GiB"
  "gpt2 block (gpt2-124m, 1 layer), batch 8, seq 1024, bf16, dropout 0.1|--model gpt2-124m --set n_layer=1 --batch 8 --dtype bf16 --dropout 0.1|op|2.3GiB 2.0GiB 1.9GiB"
)

# overhead SOLVER MODEL_OPTS BUDGET [extra]: "12.34%" or "infeasible"
overhead() {
  local s="$1" m="$2" b="$3"; shift 3
  local line
  # shellcheck disable=SC2086
  line=$("$REMAT" plan $m --budget "$b" --solver "$s" "$@" -o "$W/p.yaml" 2>&1 | grep '^remat plan:' | tail -1) || true
  case "$line" in
    *"compute overhead"*) sed -E 's/.*compute overhead ([0-9.]+%).*/\1/' <<<"$line" ;;
    *"below what"*) echo "infeasible" ;;
    *) echo "error" ;;
  esac
}

# fmt_s SECONDS: one decimal above 1 s, three below
fmt_s() { awk -v t="$1" 'BEGIN { if (t == "") print "-"; else if (t >= 1) printf "%.1f", t; else printf "%.3f", t }'; }

echo "ILP time limit ${TLIM} s; glpsol: ${GLPSOL:-not installed}; cbc: ${CBC:-not installed}" >&2
for c in "${CASES[@]}"; do
  IFS='|' read -r label model gran budgets <<<"$c"
  [ -n "$ONLY" ] && [[ "$label $gran" != *"$ONLY"* ]] && continue
  [ "$QUICK" = 1 ] && budgets=${budgets%% *}
  printf '\n**%s** — ilp at %s granularity' "$label" "$gran"
  # the model size, from the ilp's own report on a budget that needs no solve
  # shellcheck disable=SC2086
  size=$("$REMAT" plan $model --budget 1TB --solver ilp --granularity "$gran" --verbose -o "$W/p.yaml" 2>&1 |
         grep -m1 -E '^ilp: [0-9]+ nodes,|^remat plan: ilp: ' | sed -E 's/^(remat plan: )?ilp: //') || true
  printf ': %s\n\n' "$size"
  echo "| budget | sqrt | segment | dp | ilp status | ilp time (s) | ilp gap | ilp | lp-round | lp-round time (s) | ilp objective (us) | glpsol | glpsol time (s) | CBC | CBC time (s) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for b in $budgets; do
    echo "bench_ilp: $label at $b" >&2
    o_sqrt=$(overhead sqrt "$model" "$b")
    o_seg=$(overhead segment "$model" "$b")
    o_dp=$(overhead dp "$model" "$b")

    rm -f "$W/m.lp"
    # shellcheck disable=SC2086
    "$REMAT" plan $model --budget "$b" --solver ilp --granularity "$gran" --time-limit "$TLIM" \
      --dump-lp "$W/m.lp" --verbose -o "$W/ilp.yaml" >"$W/ilp.log" 2>&1 || true
    last=$(grep '^remat plan:' "$W/ilp.log" | tail -1)
    if [[ "$last" == *"compute overhead"* ]]; then
      i_status=$(sed -E 's/^remat plan: ilp ([a-z-]+) in.*/\1/' <<<"$last")
      i_time=$(sed -E 's/.* in ([0-9.]+) s:.*/\1/' <<<"$last")
      i_over=$(sed -E 's/.*compute overhead ([0-9.]+%).*/\1/' <<<"$last")
      i_gap=$(awk '/^  gap:/ { printf "%.2f%%", 100 * $2; exit }' "$W/ilp.yaml")
      # the chain plan it was seeded with, returned because the model had none in budget
      grep -q 'none within budget); returning it' "$W/ilp.log" && i_status="$i_status (seed; model infeasible)"
    elif [[ "$last" == *"below what"* ]]; then
      i_status=infeasible; i_time=""; i_over="-"; i_gap="-"
    elif grep -q 'use --granularity' "$W/ilp.log"; then
      i_status="too large"; i_time=""; i_over="-"; i_gap="-"
    else
      i_status="error"; i_time=""; i_over="-"; i_gap="-"
      sed 's/^/  ilp: /' "$W/ilp.log" | tail -3 >&2
    fi
    i_obj=$(grep -E 'attempt [0-9]+: .*compute [0-9.e+]+ us' "$W/ilp.log" | tail -1 |
            sed -E 's/.*compute ([0-9.e+]+) us.*/\1/') || true
    # lp-round's own time, from its summary line
    # shellcheck disable=SC2086
    lr=$("$REMAT" plan $model --budget "$b" --solver lp-round --granularity "$gran" --time-limit "$TLIM" \
         -o "$W/p.yaml" 2>&1 | grep '^remat plan:' | tail -1) || true
    case "$lr" in
      *"compute overhead"*) l_over=$(sed -E 's/.*compute overhead ([0-9.]+%).*/\1/' <<<"$lr")
                            l_time=$(sed -E 's/.* in ([0-9.]+) s:.*/\1/' <<<"$lr") ;;
      *"below what"*) l_over=infeasible; l_time="" ;;
      *) l_over=error; l_time="" ;;
    esac

    g_res="-"; g_time=""; c_res="-"; c_time=""
    # glpsol and CBC get the same limit; CBC checks it only after its preprocessing,
    # so both run under timeout(1) at three times the limit (reported as "killed")
    hard=$(awk -v t="$TLIM" 'BEGIN { printf "%d", 3 * t + 30 }')
    if [ -s "$W/m.lp" ] && [ -n "$GLPSOL" ]; then
      s0=$(date +%s.%N)
      rm -f "$W/g.sol"
      timeout "$hard" "$GLPSOL" --lp "$W/m.lp" --tmlim "$TLIM" -o "$W/g.sol" >"$W/g.log" 2>&1 || true
      g_time=$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
      g_st=$(awk '/^Status:/ { $1 = ""; sub(/^ +/, ""); print; exit }' "$W/g.sol" 2>/dev/null || true)
      g_obj=$(awk '/^Objective:/ { print $4; exit }' "$W/g.sol" 2>/dev/null || true)
      case "$g_st" in
        "INTEGER OPTIMAL") g_res="optimal, $(awk -v v="$g_obj" 'BEGIN { printf "%.1f", v }')" ;;
        "INTEGER NON-OPTIMAL") g_res="time limit, $(awk -v v="$g_obj" 'BEGIN { printf "%.1f", v }')" ;;
        "INTEGER UNDEFINED") g_res="time limit, none" ;;
        "INTEGER EMPTY") g_res="infeasible" ;;
        "") g_res="killed" ;;
        *) g_res="$g_st" ;;
      esac
    fi
    if [ -s "$W/m.lp" ] && [ -n "$CBC" ]; then
      s0=$(date +%s.%N)
      timeout "$hard" "$CBC" "$W/m.lp" sec "$TLIM" solve >"$W/c.log" 2>&1 || true
      c_time=$(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
      c_obj=$(awk '/^Objective value:/ { printf "%.1f", $3; exit }' "$W/c.log")
      case "$(grep -m1 '^Result - ' "$W/c.log")" in
        *"Optimal solution found"*) c_res="optimal, $c_obj" ;;
        *"Stopped on time"*) c_res="time limit, ${c_obj:-none}" ;;
        *"infeasible"*) c_res="infeasible" ;;
        "") if grep -q 'Problem is infeasible' "$W/c.log"; then c_res="infeasible"
            elif grep -q 'Pre-processing says infeasible' "$W/c.log"; then c_res="infeasible (preprocessing)"
            elif grep -q '^Total time' "$W/c.log"; then c_res="no result"
            else c_res="killed"; fi ;;
        *) c_res="$(grep -m1 '^Result - ' "$W/c.log" | sed 's/^Result - //')" ;;
      esac
    fi
    [[ "$i_status" == *"model infeasible"* ]] && i_obj=""
    [ -n "$i_obj" ] && i_obj=$(awk -v v="$i_obj" 'BEGIN { printf "%.1f", v }')
    echo "| $b | $o_sqrt | $o_seg | $o_dp | $i_status | $(fmt_s "$i_time") | $i_gap | $i_over | $l_over | $(fmt_s "$l_time") | ${i_obj:--} | $g_res | $(fmt_s "$g_time") | $c_res | $(fmt_s "$c_time") |"
  done
done
