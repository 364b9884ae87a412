"""Shared fixtures: the package on sys.path, a small GPT-2 (Hugging Face's
GPT2LMHeadModel when `transformers` imports, else remat_torch.gpt2 with the same
module names), and its example batch."""
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from remat_torch import gpt2 as rgpt2  # noqa: E402

# Small enough for a 2-core CI machine, big enough that every tensor kind shows.
L, C, H, V, T, B = 3, 64, 4, 128, 32, 2


def hf_available() -> bool:
    try:
        import transformers  # noqa: F401
    except Exception:
        return False
    return True


class Step:
    """A model plus one batch; loss() is the training step's forward."""

    def __init__(self, model, kind):
        self.model = model
        self.kind = kind  # "hf" or "remat_torch"
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, V, (B, T), generator=g)
        self.targets = torch.randint(0, V, (B, T), generator=g)
        self.pos = torch.arange(T).unsqueeze(0).expand(B, T)

    def loss(self):
        if self.kind == "hf":
            # positions passed in (an input, as in remat's graph) and the loss over all
            # rows, as remat's `loss` op: HF's labels= path shifts and copies them
            out = self.model(input_ids=self.ids, position_ids=self.pos, use_cache=False)
            logits = out.logits
            return torch.nn.functional.cross_entropy(logits.reshape(-1, V), self.targets.reshape(-1))
        return self.model(self.ids, self.pos, self.targets)

    def statics(self):
        return [self.model, self.ids, self.targets, self.pos]


def make_gpt2(prefer_hf=True):
    torch.manual_seed(0)
    if prefer_hf and hf_available():
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = GPT2Config(n_layer=L, n_embd=C, n_head=H, vocab_size=V, n_positions=T,
                         activation_function="gelu_pytorch_tanh", resid_pdrop=0.0,
                         embd_pdrop=0.0, attn_pdrop=0.0)
        m = GPT2LMHeadModel(cfg)
        kind = "hf"
    else:
        m = rgpt2.GPT2LMHeadModel(rgpt2.GPT2Settings(vocab_size=V, n_positions=T, n_embd=C,
                                                    n_layer=L, n_head=H))
        kind = "remat_torch"
    m.train()
    return Step(m, kind)


@pytest.fixture
def gpt2_step():
    return make_gpt2()


@pytest.fixture
def own_gpt2_step():
    return make_gpt2(prefer_hf=False)


def remat_exe():
    """The remat binary: $REMAT, else build/planner/remat or build-asan/planner/remat."""
    env = os.environ.get("REMAT")
    if env:
        return env
    root = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
    for b in ("build", "build-asan"):
        p = os.path.join(root, b, "planner", "remat")
        if os.access(p, os.X_OK):
            return p
    return None
