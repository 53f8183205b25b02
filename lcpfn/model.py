"""The PFN: a small transformer from a curve's context to bar logits at query steps.

Reads top to bottom: :class:`ModelConfig`, the attention block (written out so
that it exports cleanly to ONNX), the transformer block, the model.

Tokens are positions of the curve. Context tokens carry their step features and
observed (normalized) value; query tokens carry only step features. Every token
attends to the context tokens and to nothing else, so context tokens see each
other and each query sees only the context: queries are independent, and any
number can be asked at once. Context and query are two tensors; where the model
needs the split it takes it from their shapes, never from a Python int.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lcpfn.features import N_TOKEN_FEATURES

N_VALUE_FEATURES = 2  # clipped z and asinh(z)


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 384
    n_bars: int = 1000
    # Longer contexts are subsampled to this many points (the latest always kept).
    max_context: int = 128
    n_features: int = N_TOKEN_FEATURES

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        if self.n_bars < 3 or self.max_context < 2:
            raise ValueError(f"need n_bars >= 3 and max_context >= 2, got {self.n_bars=}, {self.max_context=}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(**d)


class ContextAttention(nn.Module):
    """Multi-head attention of all tokens onto the context tokens."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.q = nn.Linear(cfg.d_model, cfg.d_model)
        self.kv = nn.Linear(cfg.d_model, 2 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, h: torch.Tensor, h_ctx: torch.Tensor, key_bias: torch.Tensor | None) -> torch.Tensor:
        b, n, d = h.shape  # all tokens
        n_ctx = h_ctx.shape[1]
        q = self.q(h).view(b, n, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, N, dh)
        k, v = self.kv(h_ctx).view(b, n_ctx, 2, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # (B, H, Nc, dh) each
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, N, Nc)
        if key_bias is not None:
            scores = scores + key_bias  # (B, 1, 1, Nc): 0 for real points, very negative for padding
        out = torch.softmax(scores, dim=-1) @ v  # (B, H, N, dh)
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block whose attention reads only the context."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = ContextAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))

    def forward(self, h: torch.Tensor, y_ctx: torch.Tensor, key_bias: torch.Tensor | None) -> torch.Tensor:
        a = self.norm1(h)
        h = h + self.attn(a, a[:, : y_ctx.shape[1]], key_bias)  # y_ctx only gives the context length
        return h + self.mlp(self.norm2(h))


class PFN(nn.Module):
    """``forward(x_ctx, y_ctx, x_qry[, ctx_mask]) -> logits (B, Nq, n_bars)``.

    ``x_ctx`` (B, Nc, F) and ``x_qry`` (B, Nq, F) are token features
    (:func:`lcpfn.features.token_features`), ``y_ctx`` (B, Nc) the normalized
    context values, ``ctx_mask`` (B, Nc) true for real (not padding) points.
    ``borders`` (a buffer) are the bar borders in normalized units.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_ctx = nn.Linear(cfg.n_features + N_VALUE_FEATURES, cfg.d_model)
        self.embed_qry = nn.Linear(cfg.n_features, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_bars)
        self.register_buffer("borders", torch.linspace(-1.0, 1.0, cfg.n_bars + 1))

    def forward(self, x_ctx, y_ctx, x_qry, ctx_mask: torch.Tensor | None = None) -> torch.Tensor:
        value = torch.stack([y_ctx.clamp(-10.0, 10.0) / 3.0, torch.asinh(y_ctx)], dim=-1)  # (B, Nc, 2)
        h_ctx = self.embed_ctx(torch.cat([x_ctx, value], dim=-1))  # (B, Nc, D)
        h = torch.cat([h_ctx, self.embed_qry(x_qry)], dim=1)  # (B, Nc + Nq, D)
        key_bias = None
        if ctx_mask is not None:
            key_bias = torch.where(ctx_mask, 0.0, -1e9)[:, None, None, :].to(h.dtype)  # (B, 1, 1, Nc)
        for block in self.blocks:
            h = block(h, y_ctx, key_bias)
        h_qry = h[:, y_ctx.shape[1] :]  # (B, Nq, D)
        return self.head(self.norm(h_qry))  # (B, Nq, n_bars)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
