"""The gate's judge: a small CNN breed classifier trained on a model's TRAINING data (never on the model's own
samples), and the statistics the gate measures generated images with (make_yardstick.py writes them).

Input: image [N,3,S,S] float32 in [-1,1], exactly what the gate feeds it: the generated state converted to
uint8 by the manifest's pixels.toUint8 (clamp(round((x + 1) / 2 * 255), 0, 255)) and back by u / 255 * 2 - 1.
Training images go through the same uint8 round trip (what a PNG of them holds).
Outputs: logits [N,K] and features [N,F] (the global-average-pooled last stage, scaled to unit RMS on the
training images, so that the polynomial kernel of KID, (x.y / F + 1)^3, sees values of order 1).

The image-feature functions (high-frequency energy, saturation, contrast, clipping) are the definitions of
harness/checks/stats.ts imageFeatures, reimplemented here; the yardstick stores probe images with their values and
suites/node/judge.test.ts checks that the TypeScript definitions reproduce them.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

JUDGE_INPUT = "image"
JUDGE_OUTPUTS = ["logits", "features"]


class Judge(nn.Module):
    """conv-BN-ReLU stages, each halving the resolution, until 4x4; global average pool -> features -> logits.
    32 px: 3 stages (16, 32, 64 channels; 2 convs in the middle one); each doubling of the image size adds one
    stride-2 stage in front (128 px: 5 stages), so the same recipe serves the 128 px production model."""

    def __init__(self, num_classes: int, image_size: int = 32, width: int = 16, max_width: int = 64):
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"judge image size must be a power of two >= 8, got {image_size}")
        self.num_classes = num_classes
        self.image_size = image_size
        layers: list[nn.Module] = []
        c_in = 3
        size = image_size
        # extra stride-2 stages for images larger than 32 px
        while size > 32:
            c_out = min(max_width, width)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in, size = c_out, size // 2
        c = width
        stage = 0
        while size > 4:
            c_out = min(max_width, c)
            n_conv = 2 if stage == 1 else 1
            for k in range(n_conv):
                layers += [nn.Conv2d(c_in if k == 0 else c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                           nn.ReLU()]
            layers.append(nn.AvgPool2d(2))
            c_in, size, c, stage = c_out, size // 2, c * 2, stage + 1
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, num_classes)
        # features are scaled by 1/feature_rms (set by make_yardstick from the training images)
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x).mean(dim=(2, 3))
        return self.head(h), h * self.feature_scale


# ---------------------------------------------------------------------------------------------------------
# Pixels: the app's conversion and back

def to_uint8_nchw(x: np.ndarray) -> np.ndarray:
    """[N,3,H,W] float in [-1,1] -> [N,H,W,3] uint8 with the manifest's toUint8 (JavaScript's Math.round)."""
    v = np.floor((x.astype(np.float64) + 1.0) / 2.0 * 255.0 + 0.5)
    return np.clip(v, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def judge_input(u8: np.ndarray) -> np.ndarray:
    """[N,H,W,3] uint8 -> [N,3,H,W] float32 in [-1,1]: u / 255 * 2 - 1 (harness/checks/stats.ts imageToTensor)."""
    # in double, rounded once to float32: the same value as the TypeScript (u / 255) * 2 - 1 stored in a Float32Array
    return (u8.astype(np.float64).transpose(0, 3, 1, 2) / 255.0 * 2.0 - 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Augmentation (training only): shifts, mild blur and noise; no colour changes (colour is breed evidence)

def augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2, p_blur: float = 0.3, p_noise: float = 0.3,
            noise_max: float = 0.06) -> torch.Tensor:
    n, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, mode="replicate")
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    out = torch.empty_like(x)
    for sy in range(2 * max_shift + 1):
        for sx in range(2 * max_shift + 1):
            sel = (dx == sx) & (dy == sy)
            if sel.any():
                out[sel] = pad[sel, :, sy:sy + h, sx:sx + w]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    blur = torch.rand(n, generator=gen) < p_blur
    if blur.any():
        p = F.pad(out[blur], (1, 1, 1, 1), mode="replicate")  # separable [1,2,1]/4 binomial blur
        p = 0.25 * p[..., :-2] + 0.5 * p[..., 1:-1] + 0.25 * p[..., 2:]
        out[blur] = 0.25 * p[..., :-2, :] + 0.5 * p[..., 1:-1, :] + 0.25 * p[..., 2:, :]
    noisy = torch.rand(n, generator=gen) < p_noise
    if noisy.any():
        sigma = torch.rand(int(noisy.sum()), 1, 1, 1, generator=gen) * noise_max
        out[noisy] = out[noisy] + sigma * torch.randn(out[noisy].shape, generator=gen)
    return out.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------------------
# KID: unbiased MMD^2 with the polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018)

def poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a.shape[1]
    return (a.astype(np.float64) @ b.astype(np.float64).T / d + 1.0) ** 3


def kid(x: np.ndarray, y: np.ndarray, k_yy_mean: float | None = None) -> float:
    """Unbiased KID of samples x [m,d] against y [n,d] (can be slightly negative when they match)."""
    m, n = len(x), len(y)
    kxx = poly_kernel(x, x)
    kxy = poly_kernel(x, y)
    if k_yy_mean is None:
        kyy = poly_kernel(y, y)
        k_yy_mean = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + k_yy_mean - 2.0 * kxy.mean())


def kid_yy_mean(y: np.ndarray) -> float:
    kyy = poly_kernel(y, y)
    n = len(y)
    return float((kyy.sum() - np.trace(kyy)) / (n * (n - 1)))


# ---------------------------------------------------------------------------------------------------------
# Validity features, as harness/checks/stats.ts imageFeatures defines them (images [H,W,3] uint8)

VALIDITY_FEATURES = ["highFrequency", "saturation", "contrast", "clippedFraction"]
LUMA_PERCENTILE = 2  # harness/checks/stats.ts LUMA_PERCENTILE


def validity_features(img: np.ndarray) -> dict[str, float]:
    """highFrequency: neighbour-difference energy / (2 x pooled channel variance) (1 for independent noise);
    saturation: mean HSV saturation (max - min) / max; contrast: luma p98 - p2 (stats.ts lumaHigh - lumaLow);
    clippedFraction: pixels with any channel at 0 or 255."""
    x = img.astype(np.float64)
    h, w, _ = x.shape
    var = x.reshape(-1, 3).var(axis=0)
    total_var = var.sum()
    dh = ((x[:, 1:] - x[:, :-1]) ** 2).sum()
    dv = ((x[1:] - x[:-1]) ** 2).sum()
    pairs = h * (w - 1) + (h - 1) * w
    hf = (dh + dv) / pairs / (2 * total_var) if total_var > 0 else 0.0
    mx = x.max(axis=2)
    mn = x.min(axis=2)
    sat = np.where(mx == 0, 0.0, (mx - mn) / np.where(mx == 0, 1, mx)).mean()
    clipped = ((mn == 0) | (mx == 255)).mean()
    luma = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    lo, hi = np.percentile(luma.ravel(), [LUMA_PERCENTILE, 100 - LUMA_PERCENTILE])
    return {"highFrequency": float(hf), "saturation": float(sat), "contrast": float(hi - lo), "clippedFraction": float(clipped)}


def validity_matrix(images: np.ndarray) -> np.ndarray:
    """[N,H,W,3] uint8 -> [N, len(VALIDITY_FEATURES)] float64."""
    return np.array([[validity_features(im)[k] for k in VALIDITY_FEATURES] for im in images], np.float64)


def count_params(m: nn.Module) -> int:
    return int(sum(p.numel() for p in m.parameters()))
