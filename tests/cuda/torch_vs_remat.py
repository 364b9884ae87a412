#!/usr/bin/python3
"""tests/cuda/torch_vs_remat.py — one training step on the GPU: remat's CUDA executor
(`remat validate --device cuda`, which runs the plan and the no-checkpoint step)
against PyTorch on the same GPU in the same run. Not part of the test suite (it
needs a GPU and PyTorch with CUDA); docs/gpu-validation.md gives the commands.

PyTorch runs the same model as remat's zoo (GPT-2: tied embeddings, learned
positions, LayerNorm, tanh-GELU, biases; Llama: RMSNorm, rotate-half RoPE, GQA,
SwiGLU, untied head) with parameters and activations in the same dtype, one step =
zero_grad + forward + cross-entropy + backward + torch.optim.AdamW.step (plain, no
master weights: what remat runs without --mixed). Attention is the explicit
softmax(QK^T/sqrt(D))V that remat's kernels compute ("math"), or PyTorch's fused
scaled_dot_product_attention ("sdpa"). Each configuration runs without
checkpointing and with every block checkpointed (torch.utils.checkpoint,
use_reentrant=False), so PyTorch's own recompute overhead sits next to remat's.

usage: /usr/bin/python3 tests/cuda/torch_vs_remat.py [--remat build/planner/remat]
         [--plan PLAN.yaml] [--model gpt2-124m|llama] [--batch 8] [--seq 1024]
         [--dtype bf16|fp32] [--layers L --hidden C --heads H --kv-heads KV --ffn F
         --vocab V] [--attention math|sdpa] [--steps 5] [--warmup 2] [--device cuda]
Prints step times (median, CUDA events) and torch.cuda.max_memory_allocated, then
remat's validate report for the plan when --plan is given.
"""
import argparse
import math
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

PRESETS = {
    "gpt2-124m": dict(arch="gpt2", layers=12, hidden=768, heads=12, kv_heads=12, ffn=3072,
                      vocab=50257, max_pos=1024),
    "llama": dict(arch="llama", layers=16, hidden=2048, heads=16, kv_heads=4, ffn=5632,
                  vocab=32000, max_pos=4096),
}


def attention(q, k, v, mode):
    """q [B,H,T,D], k/v [B,KV,T,D], causal -> [B,T,H*D]."""
    B, H, T, D = q.shape
    rep = H // k.shape[1]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    if mode == "sdpa":
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~mask, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v
    return y.transpose(1, 2).reshape(B, T, H * D)


def rope(x, theta=10000.0):
    """x [B,H,T,D], rotate-half convention."""
    T, D = x.shape[2], x.shape[3]
    inv = theta ** (-torch.arange(0, D, 2, device=x.device, dtype=torch.float64) / D)
    ang = torch.arange(T, device=x.device, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], dim=-1).to(x.dtype)
    sin = torch.cat([ang.sin(), ang.sin()], dim=-1).to(x.dtype)
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class RMSNorm(torch.nn.Module):
    """x * rsqrt(mean(x^2) + eps) * w (torch.nn.RMSNorm is missing from older PyTorch)."""

    def __init__(self, C, eps, dtype, device):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(C, dtype=dtype, device=device))

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(x.dtype) * self.weight


class Block(torch.nn.Module):
    def __init__(self, c, dtype, device):
        super().__init__()
        C, H, KV, Fd = c["hidden"], c["heads"], c["kv_heads"], c["ffn"]
        self.c, self.D = c, C // H
        gpt2 = c["arch"] == "gpt2"
        kw = dict(dtype=dtype, device=device)
        if gpt2:
            self.ln_1 = torch.nn.LayerNorm(C, eps=1e-5, **kw)
            self.ln_2 = torch.nn.LayerNorm(C, eps=1e-5, **kw)
            self.c_attn = torch.nn.Linear(C, 3 * C, **kw)
            self.c_proj = torch.nn.Linear(C, C, **kw)
            self.c_fc = torch.nn.Linear(C, Fd, **kw)
            self.mlp_proj = torch.nn.Linear(Fd, C, **kw)
        else:
            self.ln_1 = RMSNorm(C, 1e-6, **kw)
            self.ln_2 = RMSNorm(C, 1e-6, **kw)
            self.q = torch.nn.Linear(C, H * self.D, bias=False, **kw)
            self.k = torch.nn.Linear(C, KV * self.D, bias=False, **kw)
            self.v = torch.nn.Linear(C, KV * self.D, bias=False, **kw)
            self.o = torch.nn.Linear(H * self.D, C, bias=False, **kw)
            self.gate = torch.nn.Linear(C, Fd, bias=False, **kw)
            self.up = torch.nn.Linear(C, Fd, bias=False, **kw)
            self.down = torch.nn.Linear(Fd, C, bias=False, **kw)

    def forward(self, x, mode):
        c, D = self.c, self.D
        B, T, C = x.shape
        H, KV = c["heads"], c["kv_heads"]
        a = self.ln_1(x)
        if c["arch"] == "gpt2":
            q, k, v = self.c_attn(a).split(C, dim=-1)
            q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
            x = x + self.c_proj(attention(q, k, v, mode))
            x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        else:
            q = rope(self.q(a).view(B, T, H, D).transpose(1, 2))
            k = rope(self.k(a).view(B, T, KV, D).transpose(1, 2))
            v = self.v(a).view(B, T, KV, D).transpose(1, 2)
            x = x + self.o(attention(q, k, v, mode))
            h = self.ln_2(x)
            x = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return x


class Model(torch.nn.Module):
    def __init__(self, c, dtype, device):
        super().__init__()
        self.c = c
        kw = dict(dtype=dtype, device=device)
        self.wte = torch.nn.Embedding(c["vocab"], c["hidden"], **kw)
        if c["arch"] == "gpt2":
            self.wpe = torch.nn.Embedding(c["max_pos"], c["hidden"], **kw)
            self.ln_f = torch.nn.LayerNorm(c["hidden"], eps=1e-5, **kw)
            self.head = None
        else:
            self.ln_f = RMSNorm(c["hidden"], 1e-6, **kw)
            self.head = torch.nn.Linear(c["hidden"], c["vocab"], bias=False, **kw)
        self.blocks = torch.nn.ModuleList(Block(c, dtype, device) for _ in range(c["layers"]))
        for m in self.modules():  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    torch.nn.init.zeros_(m.bias)

    def forward(self, tokens, targets, mode, ckpt):
        x = self.wte(tokens)
        if self.c["arch"] == "gpt2":
            x = x + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for b in self.blocks:
            x = checkpoint(b, x, mode, use_reentrant=False) if ckpt else b(x, mode)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t() if self.head is None else self.head(x)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))


def time_torch(c, args, ckpt):
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.manual_seed(1234)
    model = Model(c, dtype, dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    tok = torch.randint(0, c["vocab"], (args.batch, args.seq), device=dev)
    tgt = torch.randint(0, c["vocab"], (args.batch, args.seq), device=dev)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        if cuda:
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
        opt.zero_grad(set_to_none=False)
        loss = model(tok, tgt, args.attention, ckpt)
        loss.backward()
        opt.step()
        if cuda:
            e1.record()
            torch.cuda.synchronize()
            dt = e0.elapsed_time(e1) / 1000.0
        else:
            dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
    peak = torch.cuda.max_memory_allocated() if cuda else 0
    del model, opt
    if cuda:
        torch.cuda.empty_cache()
    return statistics.median(times), peak, float(loss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--remat", default="build/planner/remat")
    ap.add_argument("--plan")
    ap.add_argument("--model", default="gpt2-124m", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    for k in ("layers", "hidden", "heads", "kv-heads", "ffn", "vocab"):
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--attention", default="math", choices=["math", "sdpa"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    c = dict(PRESETS[args.model])
    for k in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab"):
        v = getattr(args, k)
        if v:
            c[k] = v
    c["max_pos"] = max(c["max_pos"], args.seq)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_vs_remat: PyTorch sees no CUDA device")
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device: {name}; torch {torch.__version__}; {args.model} {c}; batch {args.batch} "
          f"seq {args.seq} {args.dtype}; attention {args.attention}")
    print(f"{'PyTorch step':28s} {'median s':>10s} {'max_memory_allocated':>22s} {'loss':>9s}")
    base = None
    for ckpt in (False, True):
        t, peak, loss = time_torch(c, args, ckpt)
        label = "every block checkpointed" if ckpt else "no checkpointing"
        extra = f"  overhead {100 * (t / base - 1):+.1f} %" if ckpt and base else ""
        print(f"{label:28s} {t:10.4f} {peak:22d} {loss:9.4f}{extra}")
        base = base or t
    if args.plan:
        print(f"\n$ {args.remat} validate --plan {args.plan} --device cuda --steps {args.steps}")
        r = subprocess.run([args.remat, "validate", "--plan", args.plan, "--device", "cuda",
                            "--steps", str(args.steps)], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
