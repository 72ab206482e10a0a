"""A procedural dataset of the 13 classes: 12 cat breeds with coats modelled on the real breeds, and
Other (a dog). Each image: a random two-colour background gradient, one animal at a random position and
size, drawn with soft (anti-aliased) edges, randomly mirrored. Values in [-1, 1], NCHW float32.
"""
from __future__ import annotations

import numpy as np

BREEDS = ["Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair", "Egyptian Mau", "Maine Coon",
          "Persian", "Ragdoll", "Russian Blue", "Siamese", "Sphynx", "Other"]

# coat: base colour; mark: pattern colour; pattern; build (body scale x, head scale, ear scale); eye colour
BREED_STYLE = {
    0: dict(coat=(0.74, 0.43, 0.22), mark=(0.40, 0.20, 0.08), pattern="ticked", build=(1.0, 1.0, 1.15), eye=(0.3, 0.7, 0.2)),
    1: dict(coat=(0.88, 0.64, 0.28), mark=(0.22, 0.12, 0.05), pattern="spots", build=(1.05, 0.95, 1.0), eye=(0.3, 0.7, 0.2)),
    2: dict(coat=(0.90, 0.78, 0.56), mark=(0.30, 0.20, 0.14), pattern="points_white_paws", build=(1.0, 1.0, 0.95), eye=(0.2, 0.4, 0.95)),
    3: dict(coat=(0.07, 0.07, 0.08), mark=(0.07, 0.07, 0.08), pattern="solid", build=(0.95, 1.0, 1.0), eye=(0.95, 0.7, 0.1)),
    4: dict(coat=(0.58, 0.61, 0.66), mark=(0.58, 0.61, 0.66), pattern="solid", build=(1.15, 1.15, 0.8), eye=(0.95, 0.6, 0.1)),
    5: dict(coat=(0.78, 0.78, 0.74), mark=(0.22, 0.22, 0.22), pattern="spots", build=(0.95, 0.95, 1.05), eye=(0.5, 0.8, 0.2)),
    6: dict(coat=(0.56, 0.40, 0.24), mark=(0.20, 0.13, 0.07), pattern="tabby", build=(1.2, 1.1, 1.2), eye=(0.6, 0.7, 0.2)),
    7: dict(coat=(0.96, 0.95, 0.93), mark=(0.96, 0.95, 0.93), pattern="fluffy", build=(1.2, 1.2, 0.6), eye=(0.9, 0.55, 0.1)),
    8: dict(coat=(0.94, 0.92, 0.88), mark=(0.38, 0.36, 0.40), pattern="points_bib", build=(1.15, 1.05, 0.95), eye=(0.2, 0.4, 0.95)),
    9: dict(coat=(0.34, 0.41, 0.55), mark=(0.34, 0.41, 0.55), pattern="solid", build=(0.85, 0.9, 1.15), eye=(0.3, 0.85, 0.3)),
    10: dict(coat=(0.94, 0.88, 0.76), mark=(0.22, 0.13, 0.08), pattern="points", build=(0.85, 0.9, 1.2), eye=(0.2, 0.4, 0.95)),
    11: dict(coat=(0.93, 0.69, 0.64), mark=(0.80, 0.52, 0.50), pattern="wrinkles", build=(0.9, 0.9, 1.45), eye=(0.4, 0.7, 0.3)),
    12: dict(coat=(0.66, 0.48, 0.28), mark=(0.32, 0.20, 0.10), pattern="dog", build=(1.1, 1.0, 1.0), eye=(0.1, 0.08, 0.05)),
}


def _soft(d: np.ndarray, px: float) -> np.ndarray:
    """Signed distance (negative inside) -> coverage in [0,1] with a one-pixel soft edge."""
    return 1.0 / (1.0 + np.exp(np.clip(d / px, -30, 30) * 2.5))


def _ellipse(u, v, cx, cy, rx, ry):
    return (np.sqrt(((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2) - 1.0) * min(rx, ry)


def _triangle_up(u, v, ax, ay, half_w, h):
    """Ear: apex (ax, ay), base at ay + h with half width half_w. Approximate signed distance."""
    rel = (v - ay) / h  # 0 at apex, 1 at base
    width = half_w * np.clip(rel, 0, None)
    d_side = np.abs(u - ax) - width
    d_base = v - (ay + h)
    d_top = ay - v
    return np.maximum(np.maximum(d_side * 0.7, d_base), d_top)


def render(breed: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    st = BREED_STYLE[breed]
    px = 1.0 / size
    g = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(g, g)
    # background: two random muted colours along a random direction
    hue = rng.uniform(0, 1, 2)
    c0, c1 = [_muted(h, rng) for h in hue]
    ang = rng.uniform(0, 2 * np.pi)
    w = np.clip(0.5 + (u - 0.5) * np.cos(ang) + (v - 0.5) * np.sin(ang), 0, 1)[..., None]
    img = c0 * (1 - w) + c1 * w
    img = img + rng.normal(0, 0.015, img.shape)

    bx, hs, es = st["build"]
    s = rng.uniform(0.62, 0.9)
    cx = rng.uniform(0.5 - (0.5 - 0.3 * s), 0.5 + (0.5 - 0.3 * s))
    cy = rng.uniform(0.5 - 0.08, 0.5 + 0.1)
    head_r = 0.15 * s * hs
    hx, hy = cx + rng.uniform(-0.08, 0.08) * s, cy - 0.1 * s
    body_cx, body_cy = cx, cy + 0.17 * s
    body_rx, body_ry = 0.28 * s * bx, 0.17 * s
    d_body = _ellipse(u, v, body_cx, body_cy, body_rx, body_ry)
    d_head = _ellipse(u, v, hx, hy, head_r * 1.05, head_r)
    ear_h = 0.13 * s * es
    ear_w = 0.065 * s * es
    if st["pattern"] == "dog":
        # floppy ears hanging at the sides of the head, and a snout
        d_ears = np.minimum(_ellipse(u, v, hx - head_r * 0.95, hy + head_r * 0.3, head_r * 0.35, head_r * 0.75),
                            _ellipse(u, v, hx + head_r * 0.95, hy + head_r * 0.3, head_r * 0.35, head_r * 0.75))
        d_snout = _ellipse(u, v, hx, hy + head_r * 0.6, head_r * 0.55, head_r * 0.42)
        d_head = np.minimum(d_head, d_snout)
    else:
        d_ears = np.minimum(_triangle_up(u, v, hx - head_r * 0.62, hy - head_r - ear_h * 0.55, ear_w, ear_h),
                            _triangle_up(u, v, hx + head_r * 0.62, hy - head_r - ear_h * 0.55, ear_w, ear_h))
    # tail: a thin ellipse from the side of the body
    side = 1 if rng.uniform() < 0.5 else -1
    d_tail = _ellipse(u, v, body_cx + side * body_rx * 1.05, body_cy - body_ry * 0.6, 0.035 * s, 0.14 * s)
    d_animal = np.minimum(np.minimum(d_body, d_head), np.minimum(d_ears, d_tail))
    if st["pattern"] == "fluffy":
        # Persian: long fur makes the outline large and ragged
        d_animal = d_animal - 0.02 * s * (1 + 0.5 * np.sin(40 * np.arctan2(v - cy, u - cx)))
    cover = _soft(d_animal, px)[..., None]

    coat = np.array(st["coat"]) * rng.uniform(0.92, 1.08)
    mark = np.array(st["mark"]) * rng.uniform(0.9, 1.1)
    fur = np.broadcast_to(coat, img.shape).copy()
    pat = st["pattern"]
    rel_u, rel_v = (u - cx) / s, (v - cy) / s
    if pat == "ticked":
        tick = rng.uniform(0, 1, (size, size))
        fur = fur * (0.8 + 0.35 * tick[..., None])
    elif pat == "spots":
        n = 14
        sx, sy = rng.uniform(cx - 0.35 * s, cx + 0.35 * s, n), rng.uniform(cy - 0.25 * s, cy + 0.35 * s, n)
        dmin = np.min(np.sqrt((u[..., None] - sx) ** 2 + (v[..., None] - sy) ** 2), axis=-1)
        m = _soft(dmin - 0.04 * s, px)[..., None]
        fur = fur * (1 - m) + mark * m
    elif pat == "tabby":
        phase = rng.uniform(0, 2 * np.pi)
        stripes = np.sin(rel_u * 2 * np.pi * 5.5 + 2.0 * np.sin(rel_v * 6) + phase)
        m = np.clip(stripes * 2.2 - 0.6, 0, 1)[..., None]
        fur = fur * (1 - m) + mark * m
    elif pat in ("points", "points_white_paws", "points_bib"):
        # darker toward the face centre, on the ears, the tail and the lower edge of the body
        face = np.exp(-(((u - hx) ** 2 + (v - hy - head_r * 0.25) ** 2) / (head_r * 0.7) ** 2))
        ears = _soft(d_ears, px)
        tail = _soft(d_tail, px)
        paws = np.clip((v - (body_cy + body_ry * 0.45)) / (body_ry * 0.5), 0, 1) * _soft(d_body, px)
        m = np.clip(face * 1.1 + ears + tail + paws, 0, 1)[..., None]
        fur = fur * (1 - m) + mark * m
        if pat == "points_white_paws":
            wp = (np.clip((v - (body_cy + body_ry * 0.65)) / (body_ry * 0.2), 0, 1) * _soft(d_body, px))[..., None]
            fur = fur * (1 - wp) + np.array([0.98, 0.98, 0.97]) * wp
        if pat == "points_bib":
            bib = _soft(_ellipse(u, v, body_cx, body_cy - body_ry * 0.3, body_rx * 0.45, body_ry * 0.6), px)[..., None]
            fur = fur * (1 - bib) + np.array([0.99, 0.99, 0.98]) * bib
    elif pat == "wrinkles":
        m = (0.5 + 0.5 * np.sin(rel_v * 2 * np.pi * 9)) ** 6 * _soft(d_head, px)
        fur = fur * (1 - 0.5 * m[..., None]) + mark * 0.5 * m[..., None]
    elif pat == "fluffy":
        fur = fur * (0.93 + 0.07 * rng.uniform(0, 1, (size, size)))[..., None]
    elif pat == "dog":
        ears = _soft(d_ears, px)[..., None]
        muzzle = _soft(_ellipse(u, v, hx, hy + head_r * 0.65, head_r * 0.45, head_r * 0.32), px)[..., None]
        fur = fur * (1 - ears) + mark * ears
        fur = fur * (1 - muzzle) + np.array([0.95, 0.93, 0.88]) * muzzle
        chest = _soft(_ellipse(u, v, body_cx, body_cy, body_rx * 0.35, body_ry * 0.7), px)[..., None]
        fur = fur * (1 - chest) + np.array([0.95, 0.93, 0.88]) * chest
    # eyes
    eye_r = max(0.022 * s * hs, 0.6 * px)
    ey = hy - head_r * 0.05
    d_eyes = np.minimum(_ellipse(u, v, hx - head_r * 0.42, ey, eye_r, eye_r),
                        _ellipse(u, v, hx + head_r * 0.42, ey, eye_r, eye_r))
    e = _soft(d_eyes, px * 0.7)[..., None]
    fur = fur * (1 - e) + np.array(st["eye"]) * e
    img = img * (1 - cover) + fur * cover
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    img = np.clip(img, 0, 1)
    return (img.transpose(2, 0, 1) * 2.0 - 1.0).astype(np.float32)


def _muted(h: float, rng: np.random.Generator) -> np.ndarray:
    sat = rng.uniform(0.05, 0.4)
    val = rng.uniform(0.3, 0.92)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    rgb = val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)
    return rgb


def make_dataset(per_class: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for b in range(len(BREEDS)):
        for _ in range(per_class):
            xs.append(render(b, rng, size))
            ys.append(b)
    return np.stack(xs), np.array(ys, dtype=np.int64)
