"""Look at what a checkpoint draws: a grid of samples per breed, beside the training images of the same breed.

For a training run in progress (the checkpoint is rewritten every --save-every steps); it is evidence for a
person, not a check: the gate judges a bundle, never this picture.

    /usr/bin/python3 reference/python/preview.py --checkpoint ~/.cache/tinydit-gate/tinydit128.pt \\
        --out reports/preview-128.png
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.checkpoint import load_checkpoint  # noqa: E402
from tinydit.dataset import BREEDS, render  # noqa: E402
from tinydit.goldens import GUIDANCE_SCALE, sample_grid  # noqa: E402
from tinydit.sampler import sample, to_image_uint8  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--per-breed", type=int, default=3, help="samples per breed (default 3)")
    ap.add_argument("--training", type=int, default=2, help="training images per breed beside them (default 2)")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps (default 20; the app uses 50)")
    ap.add_argument("--guidance", type=float, default=GUIDANCE_SCALE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    ck = load_checkpoint(a.checkpoint)
    cfg = ck.config
    size, nb, n = cfg.image_size, len(BREEDS), a.per_breed
    t0 = time.time()
    breeds = torch.arange(nb).repeat_interleave(n)
    x0 = torch.randn((nb * n, cfg.in_channels, size, size), generator=torch.Generator().manual_seed(a.seed))
    x, _ = sample(ck.model, x0, breeds, a.steps, a.guidance, cfg.null_index)
    samples = np.stack([to_image_uint8(v) for v in x.numpy()]).reshape(nb, n, size, size, 3)
    rng = np.random.default_rng(a.seed + 1)
    train = np.stack([[to_image_uint8(render(b, rng, size)) for _ in range(a.training)] for b in range(nb)])
    grid = sample_grid(np.concatenate([samples, train], axis=1), scale=max(1, 96 // size))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(a.out)
    print(f"{a.out}: step {ck.step}, {n} samples per breed ({a.steps} steps, guidance {a.guidance}) then "
          f"{a.training} training images; {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
