#!/usr/bin/env bash
# demo.sh — the main job end to end: installs missing packages, builds remat, then
# profiles a GPT-2, plans checkpoints under a budget, simulates the plan and runs
# the real training step on the CPU to check the prediction.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
remat_deps
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null
R=build/planner/remat
mkdir -p out
set -x
$R models
