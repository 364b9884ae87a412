#!/usr/bin/python3
"""bench/bench_vs_torch.py — one training step of GPT-2 configurations on remat's
CPU executor against PyTorch on the CPU, same machine, same run.

For each configuration, rounds alternate between remat (bench/bench_step, a
separate process: forward, loss, backward, AdamW, no checkpointing, median of its
steps) and PyTorch (the same step: tests/python/torch_models.py's GPT-2, written
from the Hugging Face definition, zero_grad + forward + backward +
torch.optim.AdamW.step, median of its steps). Both use the same thread count (torch
intra-op threads and OpenBLAS threads; PyTorch's matmuls go through the same
OpenBLAS here) and the same glibc malloc settings, which keep freed memory in the
heap (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ large) so neither pays page faults
for re-allocating its activations every step.

usage: bench/bench_vs_torch.py [--build DIR] [--threads N] [--rounds R] [--steps S]
                               [--markdown]
Prints one row per configuration: remat and PyTorch step times (medians over the
rounds) and the ratio torch / remat (> 1: remat is faster).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name, zoo model, --set, batch, seq
CONFIGS = [
    ("gpt2 tiny", "gpt2", "n_layer=4,n_head=4,n_embd=128,vocab_size=512,n_positions=128", 4, 128),
    ("gpt2-124m", "gpt2-124m", "", 4, 64),
]

MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def parse_kv(line):
    out = {}
    for item in line.split():
        k, _, v = item.partition("=")
        out[k] = v
    return out


def run_remat(exe, model, kvset, batch, seq, threads, steps):
    cmd = [exe, model, "--batch", str(batch), "--seq", str(seq), "--threads", str(threads),
           "--steps", str(steps), "--warmup", "1"]
    if kvset:
        cmd += ["--set", kvset]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), **MALLOC_ENV)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("bench_step failed: " + r.stderr.strip())
    lines = r.stdout.strip().splitlines()
    res = parse_kv(lines[0])
    cfg = parse_kv(lines[1][len("config"):]) if len(lines) > 1 else {}
    return float(res["step_s"]), res, cfg


def cfg_int(cfg, *keys):
    for k in keys:
        if k in cfg:
            return int(cfg[k])
    raise KeyError("none of %s in the model configuration %s" % (keys, cfg))


class TorchGPT2:
    """The same step in PyTorch, built from the configuration remat resolved."""

    def __init__(self, torch, tm, cfg, batch, seq):
        self.torch, self.tm = torch, tm
        C = cfg_int(cfg, "n_embd", "C")
        H = cfg_int(cfg, "n_head", "H")
        L = cfg_int(cfg, "n_layer", "L")
        V = cfg_int(cfg, "vocab_size", "V")
        maxT = cfg_int(cfg, "n_positions", "n_ctx") if ("n_positions" in cfg or "n_ctx" in cfg) else seq
        self.cfg = {"H": str(H), "L": str(L), "dropout": "0"}
        g = torch.Generator().manual_seed(0)

        def p(*shape, gain=False):
            t = torch.randn(*shape, generator=g) * 0.02
            if gain:
                t += 1
            return t.requires_grad_(True)

        P = {"transformer.wte.weight": p(V, C), "transformer.wpe.weight": p(maxT, C)}
        for l in range(L):
            h = "transformer.h.%d." % l
            for n, shape, gain in [("ln_1.weight", (C,), True), ("ln_1.bias", (C,), False),
                                   ("attn.c_attn.weight", (3 * C, C), False),
                                   ("attn.c_attn.bias", (3 * C,), False),
                                   ("attn.c_proj.weight", (C, C), False),
                                   ("attn.c_proj.bias", (C,), False),
                                   ("ln_2.weight", (C,), True), ("ln_2.bias", (C,), False),
                                   ("mlp.c_fc.weight", (4 * C, C), False),
                                   ("mlp.c_fc.bias", (4 * C,), False),
                                   ("mlp.c_proj.weight", (C, 4 * C), False),
                                   ("mlp.c_proj.bias", (C,), False)]:
                P[h + n] = p(*shape, gain=gain)
        P["transformer.ln_f.weight"] = p(C, gain=True)
        P["transformer.ln_f.bias"] = p(C)
        self.P = P
        self.I = {"tokens": torch.randint(0, V, (batch, seq), generator=g, dtype=torch.int32),
                  "targets": torch.randint(0, V, (batch, seq), generator=g, dtype=torch.int32)}
        self.opt = torch.optim.AdamW(list(P.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.01)
        self.params = sum(t.numel() for t in P.values())

    def i(self, key):
        return int(self.cfg[key])

    def seed(self, op):
        return 0

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.tm.gpt2_forward(self, self.P, self.I)
        loss.backward()
        self.opt.step()
        return loss.item()

    def time(self, steps):
        self.step()  # warm-up
        ts = []
        for _ in range(steps):
            t0 = time.perf_counter()
            self.step()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    # same OpenBLAS threads and malloc settings for PyTorch (set before loading it)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    missing = [k for k in MALLOC_ENV if os.environ.get(k) != MALLOC_ENV[k]]
    if missing:
        os.environ.update(MALLOC_ENV)
        os.execv(sys.executable, [sys.executable] + sys.argv)
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    import torch_models as tm
    torch.set_num_threads(a.threads)
    exe = os.path.join(a.build, "bench", "bench_step")
    print("# %s, %d thread(s), torch %s, %s" % (cpu_model(), a.threads, torch.__version__,
                                                  time.strftime("%Y-%m-%d")))
    if a.markdown:
        print("| config | params | batch x seq | remat step (s) | PyTorch step (s) | PyTorch / remat |")
        print("| --- | --- | --- | --- | --- | --- |")
    for name, model, kvset, batch, seq in CONFIGS:
        try:
            _, res, cfg = run_remat(exe, model, kvset, batch, seq, a.threads, 1)
        except RuntimeError as e:
            print("%s: skipped (%s)" % (name, e))
            continue
        tg = TorchGPT2(torch, tm, cfg, batch, seq)
        if tg.params != int(res["params"]):
            print("%s: parameter counts differ (remat %s, torch %d)" % (name, res["params"],
                                                                       tg.params))
        rs, ts = [], []
        for _ in range(a.rounds):
            rs.append(run_remat(exe, model, kvset, batch, seq, a.threads, a.steps)[0])
            ts.append(tg.time(a.steps))
        r, t = statistics.median(rs), statistics.median(ts)
        if a.markdown:
            print("| %s | %.1fM | %d x %d | %.4f | %.4f | %.2f |" % (
                name, int(res["params"]) / 1e6, batch, seq, r, t, t / r))
        else:
            print("%-10s params=%s batch=%d seq=%d remat=%.4fs torch=%.4fs torch/remat=%.2f" % (
                name, res["params"], batch, seq, r, t, t / r))
        del tg


if __name__ == "__main__":
    main()
