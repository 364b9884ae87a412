#!/usr/bin/env bash
# demo.sh — the main job end to end: installs missing packages, builds remat, then
#  1. profiles GPT-2 124M (batch 8, sequence 1024, bf16) for an H100,
#  2. compares every solver under a 4 GB budget and writes the dp plan,
#  3. simulates that plan (timeline and what is live at the peak),
#  4. plans a small fp32 GPT-2 and runs its real training step on the CPU under the
#     plan, checking predicted against measured peak memory and the gradients.
# Outputs land in out/.
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
GPT2="--model gpt2-124m --batch 8 --seq 1024 --dtype bf16 --dropout 0.1 --target h100"
TINY="--model gpt2 --set n_layer=4,n_head=4,n_embd=128,vocab_size=512,n_positions=128 --batch 4 --seq 128 --target cpu"

step() { printf '\n== %s\n' "$*"; }

step "the model zoo"
$R models

step "profile GPT-2 124M, batch 8 x 1024 tokens, bf16, dropout 0.1 (analytic, H100)"
$R profile $GPT2 -o out/gpt2-profile.yaml
$R profile --profile out/gpt2-profile.yaml --format table > out/gpt2-profile.txt
head -n 12 out/gpt2-profile.txt

step "every solver under a 4 GB budget"
$R plan --profile out/gpt2-profile.yaml --budget 4GB --compare

step "the dp plan under 4 GB (may be multi-level: our executor runs it) -> out/gpt2-plan.yaml"
$R plan --profile out/gpt2-profile.yaml --budget 4GB --solver dp -o out/gpt2-plan.yaml
sed -n '/^checkpoints:/,/^  huggingface:/p' out/gpt2-plan.yaml

step "the best plan a trainer can apply by module (segment) -> out/gpt2-plan-segment.yaml"
$R plan --profile out/gpt2-profile.yaml --budget 4GB --solver segment -o out/gpt2-plan-segment.yaml
sed -n '/^checkpoints:/,/^schedule:/p' out/gpt2-plan-segment.yaml | grep -v '^    - '

step "simulate the dp plan"
$R simulate --plan out/gpt2-plan.yaml > out/gpt2-simulate.txt
tail -n 25 out/gpt2-simulate.txt

step "validate on the CPU: a 4-layer GPT-2 (fp32) under a 24 MiB budget"
$R plan $TINY --budget 24MiB --solver dp -o out/tiny-plan.yaml
$R validate --plan out/tiny-plan.yaml --device cpu --steps 2 -o out/tiny-validation.yaml

step "done: outputs in out/"
ls -l out/
