"""Euler sampler of the flow-matching ODE, t from 0 (noise) to 1 (image), as the web app runs it."""
from __future__ import annotations

import numpy as np
import torch

from .model import TinyDiT


def time_grid(steps: int) -> list[float]:
    """t_i = i/N for i = 0..N-1, computed in double and fed as float32 (the app's Float32Array)."""
    return [i / steps for i in range(steps)]


@torch.no_grad()
def sample(model: TinyDiT, x0: torch.Tensor, breeds: torch.Tensor, steps: int, cfg_scale: float,
           null_index: int, keep_trajectory: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Returns the final x and, if asked, every state x_0..x_N (N+1 tensors)."""
    x = x0.clone()
    traj = [x.clone()] if keep_trajectory else []
    dt = 1.0 / steps
    for t_val in time_grid(steps):
        t = torch.full((x.shape[0],), float(np.float32(t_val)), dtype=x.dtype)
        v = model.forward_with_cfg(x, t, breeds, cfg_scale, null_index) if cfg_scale != 1.0 else model(x, t, breeds)
        # The app's update: x[i] += dt * v[i] in double, stored back to a Float32Array.
        x = (x.double() + dt * v.double()).to(x0.dtype)
        if keep_trajectory:
            traj.append(x.clone())
    return x, traj


def to_image_uint8(x: np.ndarray) -> np.ndarray:
    """[3,H,W] in [-1,1] -> [H,W,3] uint8, as the app: round((x+1)/2*255) clamped."""
    v = np.floor((x.astype(np.float64) + 1.0) / 2.0 * 255.0 + 0.5)  # JavaScript's Math.round
    return np.clip(v, 0, 255).astype(np.uint8).transpose(1, 2, 0)
