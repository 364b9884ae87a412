#!/usr/bin/env bash
# contrib/pytorch/run_tests.sh — the PyTorch adapter's tests, on the CPU, under
# Debian's /usr/bin/python3 (python3-torch). Hugging Face `transformers` is added
# from PyPI into a venv that sees the system packages (build/pyvenv) when it
# installs; without it the tests use remat_torch.gpt2 (same module names).
# Prints a skip line and succeeds when torch is not importable.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=/usr/bin/python3
if ! "$py" -c 'import torch, yaml, pytest' 2>/dev/null; then
  echo "SKIP contrib/pytorch: torch, yaml or pytest not importable by $py"
  exit 0
fi
venv=build/pyvenv
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p build
  "$py" -m venv --system-site-packages "$venv" >/dev/null 2>&1 || rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ]; then
  if ! "$venv/bin/python" -c 'import transformers' 2>/dev/null; then
    # 4.38 is the newest line that supports Debian 12's torch 1.13
    timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check "transformers==4.38.2" \
      >/dev/null 2>&1 || echo "note: transformers did not install; testing with remat_torch.gpt2"
  fi
  py="$venv/bin/python"
fi
export REMAT="${REMAT:-$PWD/build-asan/planner/remat}"
"$py" -m pytest -q -p no:cacheprovider contrib/pytorch/tests
