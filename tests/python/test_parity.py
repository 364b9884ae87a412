"""tests/python/test_parity.py — the CPU executor against PyTorch on the CPU.

For each configuration, tests/executor/exec_dump runs one training step (no
checkpointing, AdamW) on remat's CPU executor and dumps its initial parameters, the
step's inputs, the loss, every parameter gradient and the parameters after the
optimizer step. This file rebuilds the same model in PyTorch (written from the
Hugging Face definitions: GPT-2 with tied embeddings and tanh-GELU, Llama with
RMSNorm, rotate-half RoPE, GQA and SwiGLU), loads the same weights and inputs, and
checks in fp32:
  - the loss, relative difference <= 1e-5;
  - every parameter gradient: ||ours - torch||_2 / ||torch||_2 <= 1e-5 (a gradient
    that is zero in exact arithmetic, such as the bias of a convolution feeding
    batchnorm, must instead be below 1e-6 of the whole gradient's norm in both);
  - the AdamW update (torch.optim.AdamW fed our gradients, defaults lr 1e-3,
    betas (0.9, 0.999), eps 1e-8, weight decay 0.01):
    ||our update - torch update|| / ||torch update|| <= 1e-5.
Dropout masks are reproduced from remat's counter-based hash (seed, element index).

Runs with Debian's /usr/bin/python3 (python3-torch); skips when torch is absent or
the exec_dump binary is not given (REMAT_EXEC_DUMP). Models the zoo does not have yet
are skipped by name.
"""
import math
import os
import struct
import subprocess
import tempfile

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

EXE = os.environ.get("REMAT_EXEC_DUMP")
REL = 1e-5
NP_DTYPES = {0: np.float32, 3: np.int32, 4: np.uint8}  # remat_dtype: F32, I32, U8

torch.set_num_threads(1)


# ----------------------------------------------------------------- dumps

def read_dump(path):
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:8] == b"REMATDMP", path
    version, count = struct.unpack_from("<II", buf, 8)
    assert version == 2
    off, out = 16, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", buf, off)
        off += 4
        name = buf[off:off + n].decode()
        off += n
        dt, nd = struct.unpack_from("<II", buf, off)
        off += 8
        shape = struct.unpack_from("<%dq" % nd, buf, off)
        off += 8 * nd
        npdt = NP_DTYPES[dt]
        numel = int(np.prod(shape)) if nd else 1
        arr = np.frombuffer(buf, dtype=npdt, count=numel, offset=off).reshape(shape).copy()
        off += arr.nbytes
        out[name] = torch.from_numpy(arr)
    assert off == len(buf)
    return out


class Run:
    def __init__(self, model, kv):
        if not EXE or not os.path.exists(EXE):
            pytest.skip("REMAT_EXEC_DUMP (the exec_dump binary) not given")
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        r = subprocess.run([EXE, model, d, kv], capture_output=True, text=True)
        if r.returncode != 0 and "unknown model" in r.stderr:
            pytest.skip("model %s not in the zoo yet" % model)
        assert r.returncode == 0, r.stderr
        self.cfg = {}
        with open(os.path.join(d, "config.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                self.cfg[k] = v
        self.params = read_dump(os.path.join(d, "params.bin"))
        self.inputs = read_dump(os.path.join(d, "inputs.bin"))
        self.grads = read_dump(os.path.join(d, "grads.bin"))
        self.after = read_dump(os.path.join(d, "after.bin"))
        with open(os.path.join(d, "loss.txt")) as f:
            self.loss = float(f.read())

    def i(self, key):
        return int(self.cfg[key])

    def seed(self, op):
        return int(self.cfg["seed." + op])


# ----------------------------------------------------------------- remat's dropout mask

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(x):
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def keep_mask(seed, shape, p):
    n = int(np.prod(shape))
    e = np.arange(n, dtype=np.uint64)
    h = mix64(np.uint64(seed) ^ mix64(e))
    u = (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return torch.from_numpy((u >= p).reshape(shape))


def dropout(x, seed, p):
    if p <= 0:
        return x
    scale = np.float32(1.0) / (np.float32(1.0) - np.float32(p))
    return torch.where(keep_mask(seed, tuple(x.shape), p), x * float(scale), torch.zeros_like(x))


# ----------------------------------------------------------------- models

def attention(q, k, v, causal=True, p=0.0, seed=0):
    """q [B,H,T,D], k/v [B,KV,T,D] -> [B,T,H*D]; GQA by repeating kv heads."""
    B, H, T, D = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(D)
    if causal:
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        s = s.masked_fill(~mask, float("-inf"))
    a = torch.softmax(s, dim=-1)
    a = dropout(a, seed, p)
    return (a @ v).transpose(1, 2).reshape(B, T, H * D)


def ce(logits, targets):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long())


def lin(P, name, x, bias=True):
    y = x @ P[name + ".weight"].t()
    if bias and (name + ".bias") in P:
        y = y + P[name + ".bias"]
    return y


def gpt2_forward(run, P, I):
    """Hugging Face GPT2LMHeadModel (nn.Linear weight layout), tied lm_head."""
    cfg = run.cfg
    H = run.i("H") if "H" in cfg else run.i("n_head")
    p = float(cfg.get("dropout", "0"))
    tok = I["tokens"].long()
    B, T = tok.shape
    wte = P["transformer.wte.weight"]
    x = wte[tok] + P["transformer.wpe.weight"][:T]
    L = run.i("L") if "L" in cfg else run.i("n_layer")
    C = wte.shape[1]
    D = C // H
    ln = lambda n, x: torch.nn.functional.layer_norm(x, (C,), P[n + ".weight"], P[n + ".bias"], 1e-5)
    for l in range(L):
        h = "transformer.h.%d" % l
        qkv = lin(P, h + ".attn.c_attn", ln(h + ".ln_1", x))
        q, k, v = qkv.split(C, dim=-1)
        sh = lambda t: t.view(B, T, H, D).transpose(1, 2)
        y = attention(sh(q), sh(k), sh(v), True, p, run.seed(h + ".attn.attn") if p > 0 else 0)
        o = lin(P, h + ".attn.c_proj", y)
        if p > 0:
            o = dropout(o, run.seed(h + ".attn.resid_dropout"), p)
        x = x + o
        m = lin(P, h + ".mlp.c_fc", ln(h + ".ln_2", x))
        m = torch.nn.functional.gelu(m, approximate="tanh")
        m = lin(P, h + ".mlp.c_proj", m)
        if p > 0:
            m = dropout(m, run.seed(h + ".mlp.dropout"), p)
        x = x + m
    x = ln("transformer.ln_f", x)
    return ce(x @ wte.t(), I["targets"])


def rope(x, theta=10000.0):
    """x [B,H,T,D], rotate-half; cos/sin from float64 angles, as the executor."""
    B, H, T, D = x.shape
    inv = theta ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1).float()
    sin = torch.cat([ang.sin(), ang.sin()], -1).float()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def llama_forward(run, P, I):
    """Hugging Face LlamaForCausalLM (untied lm_head)."""
    cfg = run.cfg
    H = run.i("H") if "H" in cfg else run.i("n_head")
    KV = run.i("KV") if "KV" in cfg else run.i("n_kv_head")
    L = run.i("L") if "L" in cfg else run.i("n_layer")
    tok = I["tokens"].long()
    B, T = tok.shape
    wte = P["model.embed_tokens.weight"]
    C = wte.shape[1]
    D = C // H

    def rms(n, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return P[n + ".weight"] * (x * torch.rsqrt(var + 1e-6))

    x = wte[tok]
    for l in range(L):
        h = "model.layers.%d" % l
        a = rms(h + ".input_layernorm", x)
        q = lin(P, h + ".self_attn.q_proj", a).view(B, T, H, D).transpose(1, 2)
        k = lin(P, h + ".self_attn.k_proj", a).view(B, T, KV, D).transpose(1, 2)
        v = lin(P, h + ".self_attn.v_proj", a).view(B, T, KV, D).transpose(1, 2)
        y = attention(rope(q), rope(k), v)
        x = x + lin(P, h + ".self_attn.o_proj", y)
        b = rms(h + ".post_attention_layernorm", x)
        g = lin(P, h + ".mlp.gate_proj", b)
        u = lin(P, h + ".mlp.up_proj", b)
        x = x + lin(P, h + ".mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms("model.norm", x)
    return ce(lin(P, "lm_head", x), I["targets"])


def mlp_forward(run, P, I):
    x = I["input"]
    depth = run.i("depth")
    for i in range(depth):
        x = torch.relu(lin(P, "layers.%d.fc" % i, x))
    return ce(lin(P, "head", x), I["targets"])


def chain_forward(run, P, I):
    x = I["input"]
    for i in range(run.i("length")):
        x = torch.tanh(P["stages.%d.weight" % i] * x)
    return ce(x, I["targets"])


def cnn_forward(run, P, I):
    F = torch.nn.functional
    x = I["image"]
    c1 = F.conv2d(x, P["conv1.weight"], P["conv1.bias"], stride=1, padding=1)
    n1 = F.batch_norm(c1, None, None, P["bn1.weight"], P["bn1.bias"], training=True, eps=1e-5)
    r1 = F.relu(n1)
    p1 = F.max_pool2d(r1, 2, 2)
    c2 = F.conv2d(p1, P["conv2.weight"], None, stride=1, padding=1)
    u = F.interpolate(c2, scale_factor=2, mode="nearest")
    cat = torch.cat([r1, u], 1)
    c3 = F.conv2d(cat, P["conv3.weight"], P["conv3.bias"], stride=2, padding=1)
    f1 = lin(P, "fc", c3.flatten(1))
    f2 = lin(P, "fc2", cat.mean((2, 3)), bias=False)
    return ce(f1 + f2, I["targets"])


# ----------------------------------------------------------------- the check

def rel(a, b):
    d = (a.double() - b.double()).norm().item()
    n = b.double().norm().item()
    return d / n if n > 0 else d


def check(model, kv, forward):
    run = Run(model, kv)
    P = {k: v.clone().requires_grad_(True) for k, v in run.params.items()}
    loss = forward(run, P, run.inputs)
    loss.backward()
    assert abs(run.loss - loss.item()) <= REL * abs(loss.item()), (run.loss, loss.item())
    assert set(run.grads) == set(P)
    total = math.sqrt(sum(P[k].grad.double().norm().item() ** 2 for k in P))
    worst = 0.0
    for k in P:
        ref = P[k].grad.double().norm().item()
        if ref < 1e-6 * total:
            # zero in exact arithmetic (a bias feeding batchnorm): both must be noise
            ours = run.grads[k].double().norm().item()
            assert ours < 1e-6 * total, "%s: gradient %.3g where torch has ~0" % (k, ours)
            continue
        r = rel(run.grads[k], P[k].grad)
        worst = max(worst, r)
        assert r <= REL, "%s: gradient differs by %.3g relative" % (k, r)
    # AdamW: torch.optim on our gradients, compared update for update
    opt = torch.optim.AdamW(list(P.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    with torch.no_grad():
        for k in P:
            P[k].grad.copy_(run.grads[k])
    opt.step()
    for k in P:
        ours = run.after[k] - run.params[k]
        theirs = P[k].detach() - run.params[k]
        r = rel(ours, theirs)
        assert r <= REL, "%s: AdamW update differs by %.3g relative" % (k, r)
    return worst


def test_mlp():
    check("mlp", "depth=3,width=24,classes=7,batch=5", mlp_forward)


def test_chain():
    check("chain", "length=5,width=12,batch=3", chain_forward)


def test_gpt2_testgraph():
    check("tg-gpt2", "B=2,T=6,C=16,H=4,L=2,V=23", gpt2_forward)


def test_gpt2_testgraph_dropout():
    check("tg-gpt2", "B=2,T=5,C=8,H=2,L=2,V=13,dropout=0.25", gpt2_forward)


def test_llama_testgraph_gqa():
    check("tg-llama", "B=2,T=6,C=16,H=4,KV=2,L=2,V=19,F=24", llama_forward)


def test_cnn_testgraph():
    check("tg-cnn", "", cnn_forward)
