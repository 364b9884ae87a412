#!/usr/bin/env bash
# tests/fuzz/run.sh — builds the libFuzzer targets with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs each for FUZZ_SECONDS seconds (default 60)
# from its seed corpus in tests/fuzz/corpus/<target>/. New inputs libFuzzer finds go
# to build-fuzz/corpus/<target>/ (the checked-in seeds are never modified); a crash,
# leak, timeout or out-of-memory leaves its input in build-fuzz/artifacts/<target>/
# and makes this script fail. Turn such an input into a regression test by copying it
# to tests/fixtures/bad/fuzz/ (tests/hardening/test_fuzz_regress.c runs them all).
#
# usage: tests/fuzz/run.sh [TARGET...]   (default: every target)
# env:   FUZZ_SECONDS (per target), FUZZ_BUILD (default build-fuzz), CC (default clang),
#        FUZZ_JOBS (parallel compiles, default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-60}
cc=${CC:-clang}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(modelfile profile plan hfconfig size)
fi
if ! command -v "$cc" >/dev/null; then
  echo "run.sh: $cc not found (apt-get install clang)" >&2
  exit 1
fi

mkdir -p "$out/obj"
cat > "$out/config.h.new" <<'EOF'
#pragma once
#define HAVE_CUDA 0
#define REMAT_VERSION "fuzz"
EOF
cmp -s "$out/config.h.new" "$out/config.h" 2>/dev/null || mv "$out/config.h.new" "$out/config.h"
rm -f "$out/config.h.new"

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fno-omit-frame-pointer \
  -Wno-unused-parameter -I$root -I$out $san"

# the libraries the loaders need: models, profiler, solver (plans are re-simulated),
# reports; rebuilt when a source or any header changed
srcs=()
for d in models profiler solver reports; do
  for f in "$root/$d"/*.c; do
    srcs+=("$f")
  done
done
newest_header=$(find "$root/models" "$root/profiler" "$root/solver" "$root/reports" \
                  -name '*.h' -newer "$out/librematfuzz.a" 2>/dev/null | head -1 || true)
[ -f "$out/librematfuzz.a" ] || newest_header=rebuild
objs=()
pids=()
jobs=${FUZZ_JOBS:-2}
for f in "${srcs[@]}"; do
  rel=${f#$root/}
  o="$out/obj/${rel//\//_}.o"
  objs+=("$o")
  if [ -n "$newest_header" ] || [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then
    # shellcheck disable=SC2086
    $cc $cflags -fsanitize=fuzzer-no-link -c "$f" -o "$o" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
      wait "${pids[0]}"
      pids=("${pids[@]:1}")
    fi
  fi
done
for p in "${pids[@]}"; do
  wait "$p"
done
rm -f "$out/librematfuzz.a"
ar rcs "$out/librematfuzz.a" "${objs[@]}"

status=0
for t in "${targets[@]}"; do
  src="$root/tests/fuzz/fuzz_$t.c"
  if [ ! -f "$src" ]; then
    echo "run.sh: no target '$t' (tests/fuzz/fuzz_$t.c)" >&2
    exit 2
  fi
  exe="$out/fuzz_$t"
  # shellcheck disable=SC2086
  $cc $cflags -fsanitize=fuzzer "$src" "$out/librematfuzz.a" -lyaml -lglpk -lm -o "$exe"
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  seeds="$root/tests/fuzz/corpus/$t"
  echo "== fuzz_$t: ${secs}s from $(ls "$seeds" 2>/dev/null | wc -l) seeds"
  if ! "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
        "$out/corpus/$t" "$seeds" >"$out/fuzz_$t.log" 2>&1; then
    echo "run.sh: fuzz_$t failed; input(s) in $out/artifacts/$t/, log $out/fuzz_$t.log" >&2
    grep -E "ERROR|SUMMARY|bad error report|negative size" "$out/fuzz_$t.log" | head -5 >&2 || true
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$out/fuzz_$t.log" |
      tr '\n' ' ' | sed 's/^/   /'
    echo
  fi
done
exit $status
