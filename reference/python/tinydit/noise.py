"""Seeded Gaussian noise, bit-identical to the web app's generator (mulberry32 + Box-Muller, NCHW).

The web app (frontend/src/engine/generation.worker.ts of the real project) draws u, v in pairs with
`while (u === 0) u = random()`, writes z0 = sqrt(-2 ln u) cos(2 pi v) then z1 = ... sin(2 pi v), each
rounded to float32. The arithmetic here is IEEE double like JavaScript's; only libm's log/cos/sin may
differ from V8's in the last double bit, which changes a float32 result only rarely.
"""
from __future__ import annotations

import math

import numpy as np

_M32 = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & _M32


class Mulberry32:
    def __init__(self, seed: int) -> None:
        self.state = seed & _M32

    def __call__(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & _M32
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & _M32
        return ((t ^ (t >> 14)) & _M32) / 4294967296.0


def seeded_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    rnd = Mulberry32(seed)
    out = np.empty(size, dtype=np.float64)
    two_pi = 2.0 * math.pi
    for i in range(0, size, 2):
        u = 0.0
        while u == 0.0:
            u = rnd()
        v = 0.0
        while v == 0.0:
            v = rnd()
        mag = math.sqrt(-2.0 * math.log(u))
        out[i] = mag * math.cos(two_pi * v)
        if i + 1 < size:
            out[i + 1] = mag * math.sin(two_pi * v)
    return out.astype(np.float32).reshape(shape)
