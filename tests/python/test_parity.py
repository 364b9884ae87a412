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
from torch_models import (chain_forward, cnn_forward, gpt2_forward,  # noqa: E402
                          llama_forward, mlp_forward)

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
    # The update (about lr) is the difference of two fp32 parameters (about 1 for
    # norm gains), so the last bit of each parameter is 1e-4 of the update: one
    # element rounded the other way (torch's kernels may fuse a multiply-add) must
    # pass. Each element may differ by REL of the update plus one ulp of the result.
    ulp = torch.finfo(torch.float32).eps
    for k in P:
        ours = run.after[k].double()
        theirs = P[k].detach().double()
        step = theirs - run.params[k].double()
        slack = REL * step.abs() + ulp * theirs.abs()
        worst_el = ((ours - theirs).abs() - slack).max().item()
        assert worst_el <= 0, "%s: AdamW update differs by %.3g relative" % (
            k, rel(ours - run.params[k].double(), step))
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


GPT2 = "n_layer=2,n_head=4,n_embd=32,vocab_size=50,n_positions=16"
LLAMA = ("num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2,hidden_size=32,"
         "intermediate_size=48,vocab_size=40")


def test_gpt2_zoo():
    check("gpt2", GPT2 + ",batch=2,seq=12", gpt2_forward)


def test_gpt2_zoo_dropout():
    check("gpt2", GPT2 + ",batch=2,seq=8,dropout=0.1", gpt2_forward)


def test_llama_zoo_gqa():
    check("llama", LLAMA + ",batch=2,seq=10", llama_forward)


def test_llama_zoo_tied():
    check("llama", LLAMA + ",tie_word_embeddings=1,rope_theta=500000,batch=1,seq=6",
          llama_forward)


def test_cnn_testgraph():
    check("tg-cnn", "", cnn_forward)
