"""tests/python/torch_models.py — PyTorch definitions of the models remat's CPU
executor runs, written from the Hugging Face definitions (GPT-2: tied embeddings,
tanh-GELU, LayerNorm eps 1e-5; Llama: RMSNorm eps 1e-6, rotate-half RoPE, GQA,
SwiGLU, untied lm_head), plus the mlp, chain and the executor tests' CNN. Each
forward takes `run` (an object with i(key) for the configuration, cfg (dict) and
seed(op) for dropout seeds), P (parameter name -> tensor, remat's names, nn.Linear
weight layout [out, in]) and I (input name -> tensor) and returns the mean
cross-entropy loss. Used by test_parity.py and bench/bench_vs_torch.py.
"""
import math

import numpy as np
import torch


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


def cfg_int(run, *keys):
    """The first of keys present in the configuration (test graphs use H/L/KV,
    the zoo Hugging Face names)."""
    for k in keys:
        if k in run.cfg:
            return int(run.cfg[k])
    raise KeyError(keys)


def seed_of(run, *ops):
    """Dropout seed of the first of ops that draws a mask, or None."""
    for op in ops:
        if "seed." + op in run.cfg:
            return run.seed(op)
    return None


def gpt2_forward(run, P, I):
    """Hugging Face GPT2LMHeadModel (nn.Linear weight layout), tied lm_head; dropout
    on the embeddings, the attention probabilities and both residual branches."""
    H = cfg_int(run, "H", "n_head")
    L = cfg_int(run, "L", "n_layer")
    p = float(run.cfg.get("dropout", "0"))
    tok = I["tokens"].long()
    B, T = tok.shape
    wte = P["transformer.wte.weight"]
    C = wte.shape[1]
    D = C // H
    x = wte[tok] + P["transformer.wpe.weight"][:T]
    if p > 0 and seed_of(run, "transformer.drop") is not None:
        x = dropout(x, seed_of(run, "transformer.drop"), p)

    def ln(n, x):
        return torch.nn.functional.layer_norm(x, (C,), P[n + ".weight"], P[n + ".bias"], 1e-5)

    for l in range(L):
        h = "transformer.h.%d" % l
        qkv = lin(P, h + ".attn.c_attn", ln(h + ".ln_1", x))
        q, k, v = qkv.split(C, dim=-1)

        def sh(t):
            return t.view(B, T, H, D).transpose(1, 2)

        seed = seed_of(run, h + ".attn.attn", h + ".attn.core") if p > 0 else 0
        y = attention(sh(q), sh(k), sh(v), True, p, seed)
        o = lin(P, h + ".attn.c_proj", y)
        if p > 0:
            o = dropout(o, seed_of(run, h + ".attn.resid_dropout"), p)
        x = x + o
        m = lin(P, h + ".mlp.c_fc", ln(h + ".ln_2", x))
        m = torch.nn.functional.gelu(m, approximate="tanh")
        m = lin(P, h + ".mlp.c_proj", m)
        if p > 0:
            m = dropout(m, seed_of(run, h + ".mlp.dropout"), p)
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
    """Hugging Face LlamaForCausalLM (lm_head untied unless tie_word_embeddings)."""
    H = cfg_int(run, "H", "num_attention_heads")
    KV = cfg_int(run, "KV", "num_key_value_heads")
    L = cfg_int(run, "L", "num_hidden_layers")
    theta = float(run.cfg.get("rope_theta", "10000"))
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
        y = attention(rope(q, theta), rope(k, theta), v)
        x = x + lin(P, h + ".self_attn.o_proj", y)
        b = rms(h + ".post_attention_layernorm", x)
        g = lin(P, h + ".mlp.gate_proj", b)
        u = lin(P, h + ".mlp.up_proj", b)
        x = x + lin(P, h + ".mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms("model.norm", x)
    head = P["lm_head.weight"] if "lm_head.weight" in P else wte
    return ce(x @ head.t(), I["targets"])


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
