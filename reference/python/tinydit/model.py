"""TinyDiT, following the public ONNX contract in docs/bundle-format.md.

Module and parameter names follow the real project (d-oit/tiny-cats-model, src/dit.py) so that a
state dict of that project loads here: patch_embed.proj, pos_embed, t_embedder.mlp,
breed_embedder.embedding (last row = null token), blocks.N.{norm1,attn,norm2,mlp,adaLN_modulation},
final_layer.{norm_final,linear,adaLN_modulation}.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class TinyDiTConfig:
    name: str
    image_size: int
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    num_classes: int = 13  # 12 breeds + Other; the null token is row num_classes
    in_channels: int = 3
    # What the last layer predicts. "velocity": v = x1 - x0 directly (the real project's TinyDiT). "x": the clean
    # image x1, turned into the same velocity inside the graph, v = (x1_hat - x_t) / max(1 - t, PREDICTION_T_EPS).
    # The ONNX contract (inputs, output = velocity) is the same either way. Why "x" exists: with patch 16 a token
    # carries 16*16*3 = 768 values but the model is 384 wide, so the patch embedding sees only half of the noise;
    # a velocity head cannot remove the other half and its loss floors near 0.5 (docs/production-model.md).
    prediction: str = "velocity"

    @property
    def null_index(self) -> int:
        return self.num_classes

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict:
        """The config as checkpoints and manifests store it; the default velocity head is left out, as in the real
        project's checkpoints, which have no such key."""
        d = asdict(self)
        if d["prediction"] == "velocity":
            del d["prediction"]
        return d


PREDICTIONS = ("velocity", "x")
# The x-prediction's floor on 1 - t: the sampler never goes past t = 1 - 1/steps, but training draws t up to 1.
PREDICTION_T_EPS = 0.05

# Production config of the real project (33M parameters, 132 MB fp32).
TINYDIT_128 = TinyDiTConfig("tinydit_128", image_size=128, patch_size=16, embed_dim=384, depth=12, num_heads=6)
# The embedded fixture: 32x32 pixels, patch 4 -> 64 tokens like production, ~1.3M parameters.
TINYDIT_FIXTURE = TinyDiTConfig("tinydit_fixture32", image_size=32, patch_size=4, embed_dim=128, depth=4, num_heads=4)
CONFIGS = {c.name: c for c in (TINYDIT_128, TINYDIT_FIXTURE)}


def config_from_dict(d: dict) -> TinyDiTConfig:
    fields = TinyDiTConfig.__dataclass_fields__
    missing = [k for k in ("image_size", "patch_size", "embed_dim", "depth", "num_heads") if k not in d]
    if missing:
        raise ValueError(f"config lacks required field(s) {missing}")
    if d.get("prediction", "velocity") not in PREDICTIONS:
        raise ValueError(f"config prediction {d.get('prediction')!r} is not one of {PREDICTIONS}")
    return TinyDiTConfig(**{k: v for k, v in d.items() if k in fields})


class PatchEmbed(nn.Module):
    def __init__(self, cfg: TinyDiTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_channels, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # torch 1.13 has no scaled_dot_product_attention: explicit softmax attention.
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    @staticmethod
    def sinusoid(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half).to(t.dtype)
        args = t[:, None] * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        # t in [0,1] is scaled to [0,1000]: unscaled, the sinusoid barely changes with t (ORIGIN failure 5).
        return self.mlp(self.sinusoid(t * 1000.0, self.freq_dim))


class BreedEmbedder(nn.Module):
    def __init__(self, num_rows: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_rows, dim)

    def forward(self, breeds: torch.Tensor) -> torch.Tensor:
        return self.embedding(breeds)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class DiTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        # Affine LayerNorm: the non-affine one exports a graph onnx 1.12/onnxruntime reject (BROWSERS.md).
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        sh_a, sc_a, g_a, sh_m, sc_m, g_m = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + g_a.unsqueeze(1) * self.attn(modulate(self.norm1(x), sh_a, sc_a))
        x = x + g_m.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sh_m, sc_m))
        return x


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch: int, out_ch: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, eps=1e-5)
        self.linear = nn.Linear(dim, patch * patch * out_ch)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class TinyDiT(nn.Module):
    def __init__(self, cfg: TinyDiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.breed_embedder = BreedEmbedder(cfg.num_classes + 1, d)  # last row: null token
        self.t_embedder = TimestepEmbedder(d)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_tokens, d))
        self.blocks = nn.ModuleList([DiTBlock(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final_layer = FinalLayer(d, cfg.patch_size, cfg.in_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.breed_embedder.embedding.weight, std=0.02)
        for blk in self.blocks:  # adaLN-zero: each block starts as the identity
            nn.init.zeros_(blk.adaLN_modulation[-1].weight)
            nn.init.zeros_(blk.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    # [b, n, n, p, p, C] -> [b, C, n, p, n, p]: grid row, pixel row, grid column, pixel column
    UNPATCHIFY_PERM: tuple[int, ...] = (0, 5, 1, 3, 2, 4)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        b = x.shape[0]
        n = cfg.image_size // cfg.patch_size
        p = cfg.patch_size
        x = x.reshape(b, n, n, p, p, cfg.in_channels)
        return x.permute(*self.UNPATCHIFY_PERM).reshape(b, cfg.in_channels, cfg.image_size, cfg.image_size)

    def forward(self, x: torch.Tensor, t: torch.Tensor, breeds: torch.Tensor) -> torch.Tensor:
        h = self.patch_embed(x) + self.pos_embed
        c = self.t_embedder(t) + self.breed_embedder(breeds)
        for blk in self.blocks:
            h = blk(h, c)
        out = self.unpatchify(self.final_layer(h, c))
        if self.cfg.prediction == "x":
            return (out - x) / torch.clamp(1.0 - t, min=PREDICTION_T_EPS)[:, None, None, None]
        return out

    def forward_with_cfg(self, x: torch.Tensor, t: torch.Tensor, breeds: torch.Tensor, scale: float,
                         null_index: int | None = None) -> torch.Tensor:
        """Classifier-free guidance in one batched call: v_u + s (v_c - v_u)."""
        null = self.cfg.null_index if null_index is None else null_index
        uncond = torch.full_like(breeds, null)
        out = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([breeds, uncond]))
        v_c, v_u = out.chunk(2, dim=0)
        return v_u + scale * (v_c - v_u)


class GuidedExport(nn.Module):
    """The default export: guidance baked into the graph (conditional and null branches)."""

    def __init__(self, model: TinyDiT, scale: float, null_index: int) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.null_index = null_index

    def forward(self, noise: torch.Tensor, timestep: torch.Tensor, breed: torch.Tensor) -> torch.Tensor:
        return self.model.forward_with_cfg(noise, timestep, breed, self.scale, self.null_index)


class RawExport(nn.Module):
    """The --no-cfg export: raw velocity; the caller applies guidance."""

    def __init__(self, model: TinyDiT) -> None:
        super().__init__()
        self.model = model

    def forward(self, noise: torch.Tensor, timestep: torch.Tensor, breed: torch.Tensor) -> torch.Tensor:
        return self.model(noise, timestep, breed)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
