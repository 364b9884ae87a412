"""A GPT-2 with Hugging Face's module names, for machines without `transformers`
and for torch.fx export: transformer.wte / wpe / drop / h.N.{ln_1, attn.{c_attn,
c_proj, attn_dropout, resid_dropout}, ln_2, mlp.{c_fc, act, c_proj, dropout}} /
ln_f, lm_head, so a plan made for the zoo's gpt2 applies to it unchanged. The
attention core is one wrapped function (causal_attention) that torch.fx keeps as a
single call, matching remat's fused `attention` op; with attn_pdrop 0 it saves
exactly what Hugging Face's eager attention saves (q, k, v as views of one qkv
tensor, and the probabilities)."""
import math
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPT2Settings:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


def causal_attention(qkv: torch.Tensor, n_head: int, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + causal mask) v for qkv [B, T, 3C]; returns [B, T, C].
    mask: a bool [maxT, maxT] lower-triangular buffer (static memory, like HF's)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    D = C // n_head
    q, k, v = qkv.split(C, dim=2)
    q = q.view(B, T, n_head, D).transpose(1, 2)
    k = k.view(B, T, n_head, D).transpose(1, 2)
    v = v.view(B, T, n_head, D).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
    scores = torch.where(mask[:T, :T], scores, torch.full((), float("-inf"), dtype=scores.dtype))
    probs = torch.softmax(scores, dim=-1)
    y = torch.matmul(probs, v)
    return y.transpose(1, 2).contiguous().view(B, T, C)


torch.fx.wrap("causal_attention")


class GPT2Attention(nn.Module):
    def __init__(self, s: GPT2Settings):
        super().__init__()
        self.n_head = s.n_head
        self.c_attn = nn.Linear(s.n_embd, 3 * s.n_embd)
        self.c_proj = nn.Linear(s.n_embd, s.n_embd)
        self.attn_dropout = nn.Dropout(0.0)  # probabilities dropout: not modelled (p 0)
        self.resid_dropout = nn.Dropout(s.dropout)
        self.register_buffer("bias", torch.ones(s.n_positions, s.n_positions, dtype=torch.bool).tril(),
                             persistent=False)

    def forward(self, x):
        y = causal_attention(self.c_attn(x), self.n_head, self.bias)
        return self.resid_dropout(self.c_proj(y))


class GPT2MLP(nn.Module):
    def __init__(self, s: GPT2Settings):
        super().__init__()
        self.c_fc = nn.Linear(s.n_embd, 4 * s.n_embd)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * s.n_embd, s.n_embd)
        self.dropout = nn.Dropout(s.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, s: GPT2Settings):
        super().__init__()
        self.ln_1 = nn.LayerNorm(s.n_embd, eps=s.layer_norm_epsilon)
        self.attn = GPT2Attention(s)
        self.ln_2 = nn.LayerNorm(s.n_embd, eps=s.layer_norm_epsilon)
        self.mlp = GPT2MLP(s)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, s: GPT2Settings):
        super().__init__()
        self.wte = nn.Embedding(s.vocab_size, s.n_embd)
        self.wpe = nn.Embedding(s.n_positions, s.n_embd)
        self.drop = nn.Dropout(s.dropout)
        self.h = nn.ModuleList([GPT2Block(s) for _ in range(s.n_layer)])
        self.ln_f = nn.LayerNorm(s.n_embd, eps=s.layer_norm_epsilon)

    def forward(self, input_ids, position_ids):
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    """forward(input_ids, position_ids, targets) -> mean cross-entropy loss."""

    def __init__(self, s: GPT2Settings):
        super().__init__()
        self.settings = s
        self.transformer = GPT2Model(s)
        self.lm_head = nn.Linear(s.n_embd, s.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2

    def forward(self, input_ids, position_ids, targets):
        logits = self.lm_head(self.transformer(input_ids, position_ids))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
