#!/usr/bin/env bash
# test.sh — the whole test suite: installs missing packages, builds with ASan/UBSan
# and runs every test, then runs the suite again under valgrind (memcheck).
# Tests that need a GPU skip (exit 77) where none is present.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
remat_deps python3-torch python3-pytest python3-yaml chromium libxml2-utils clang libclang-rt-14-dev

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-asan >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C build-asan --print-errorlogs --num-processes "$(nproc)" --timeout-multiplier 4

echo "== valgrind memcheck (build/)"
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null
meson test -C build --setup valgrind --print-errorlogs --num-processes "$(nproc)" --no-suite slow

echo "== fuzz (libFuzzer + ASan/UBSan, ${FUZZ_SECONDS:-20} s per target; tests/fuzz/run.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} tests/fuzz/run.sh

echo "== contrib/pytorch (PyTorch adapter and exporter, CPU)"
contrib/pytorch/run_tests.sh
