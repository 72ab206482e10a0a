"""Self-consistent broken bundles: a broken CHECKPOINT, and its whole bundle (three ONNX variants, every golden,
the manifest) made from it by make_bundle.py's own path (tinydit.pipeline.finish_training). Models, goldens and
checkpoint agree with each other by construction, so every check that compares the model with its own references
(velocity, trajectory, provenance, the bundle-derived image families) passes; only checks that measure the model
against something the bundle does not supply (the judge's training-data yardstick, the goldens-free behaviour
checks) can reject it. This is how the real project shipped broken models: it regenerated its goldens from them.

Each fault is an edit of the good checkpoint's state dicts (applied to ema_params AND model_state_dict, so the
file is a consistent checkpoint whichever weights are read), or an earlier checkpoint of a training run:

  sc-breeds-rolled        breed embedding row b <- row b+1 (mod 13); the null row kept: asking for a breed draws the next
  sc-breeds-swapped       rows of Bombay (3) and Siamese (10) exchanged
  sc-breed-rows-equal     every breed row (0..12) equal to row 0; the null row kept: guidance still acts, breed does not
  sc-breeds-untrained     rows 2..12 back at their initial values (normal, std 0.02, seeded), as if only labels 0 and 1
                          were ever trained (the real project's breed bug); the rest of the network is the good one
  sc-channels-swapped     the model works in BGR: patch-embedding input channels and output-layer channels swapped
  sc-pixel-range-halved   output layer weight and bias x0.5: velocity, and so the image range, halved
  sc-pixel-range-shifted  output layer bias +0.5: every image 64 levels brighter
  sc-output-washed-out    output layer weight and bias x0.3: samples mostly noise, faint cats
  sc-t-blind              the timestep MLP's input weights zeroed: the time embedding is a constant
  sc-position-blind       the position embedding zeroed: the model no longer knows where a patch is
  sc-raw-weights          ema_params replaced by model_state_dict (the EMA was never applied to what ships)
  sc-under-trained-<N>    the checkpoint a training run (train.py --keep-steps N) saved at step N, as is

    /usr/bin/python3 reference/python/make_mutants.py --checkpoint fixtures/default/checkpoint.pt \\
        --out reports/mutants/.python --only sc-breeds-rolled,... [--under-trained-dir reports/models/seed1]

Writes <out>/<name>/bundle/ (checkpoint.pt and everything make_bundle.py writes beside it).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

State = dict[str, torch.Tensor]
EMB = "breed_embedder.embedding.weight"
OUT_W, OUT_B = "final_layer.linear.weight", "final_layer.linear.bias"
PATCH_W = "patch_embed.proj.weight"
T_IN = "t_embedder.mlp.0.weight"
POS = "pos_embed"
UNDER_TRAINED_STEPS = (250, 500, 1000)
UNTRAINED_SEED = 20260
# make_bundle.py --stats-seeds: the reference images per breed of the bundle-derived image families (default 32).
# 8 keeps a self-consistent bundle at about 3 minutes on 2 shared cores instead of 9 (the 416 reference images are
# most of the time). The checks aimed at these faults never read that set: the judge samples its own images and
# the behaviour checks need no goldens.
STATS_SEEDS = 8


def _rows_rolled(s: State, n: int) -> None:
    rows = s[EMB][:n].clone()
    s[EMB][:n] = torch.roll(rows, shifts=-1, dims=0)


def _rows_swapped(s: State, a: int, b: int) -> None:
    ra, rb = s[EMB][a].clone(), s[EMB][b].clone()
    s[EMB][a], s[EMB][b] = rb, ra


def _rows_equal(s: State, n: int) -> None:
    s[EMB][:n] = s[EMB][0].clone()


def _rows_untrained(s: State, first: int, n: int) -> None:
    g = torch.Generator().manual_seed(UNTRAINED_SEED)
    s[EMB][first:n] = torch.randn(n - first, s[EMB].shape[1], generator=g) * 0.02


def _channels_swapped(s: State, channels: int) -> None:
    swap = [2, 1, 0] if channels == 3 else None
    if swap is None:
        raise RuntimeError(f"sc-channels-swapped needs 3 channels, the config has {channels}")
    s[PATCH_W] = s[PATCH_W][:, swap].clone()
    out = s[OUT_W].shape[0]
    perm = [(o // channels) * channels + swap[o % channels] for o in range(out)]
    s[OUT_W] = s[OUT_W][perm].clone()
    s[OUT_B] = s[OUT_B][perm].clone()


def _output_affine(s: State, a: float, b: float) -> None:
    s[OUT_W] = s[OUT_W] * a
    s[OUT_B] = s[OUT_B] * a + b


def edits(num_classes: int, channels: int) -> dict[str, Callable[[State], None]]:
    n = num_classes  # breed rows 0..n-1; row n is the null token
    return {
        "sc-breeds-rolled": lambda s: _rows_rolled(s, n),
        "sc-breeds-swapped": lambda s: _rows_swapped(s, 3, 10),
        "sc-breed-rows-equal": lambda s: _rows_equal(s, n),
        "sc-breeds-untrained": lambda s: _rows_untrained(s, 2, n),
        "sc-channels-swapped": lambda s: _channels_swapped(s, channels),
        "sc-pixel-range-halved": lambda s: _output_affine(s, 0.5, 0.0),
        "sc-pixel-range-shifted": lambda s: _output_affine(s, 1.0, 0.5),
        "sc-output-washed-out": lambda s: _output_affine(s, 0.3, 0.0),
        "sc-t-blind": lambda s: s.__setitem__(T_IN, torch.zeros_like(s[T_IN])),
        "sc-position-blind": lambda s: s.__setitem__(POS, torch.zeros_like(s[POS])),
    }


NAMES = ("sc-breeds-rolled", "sc-breeds-swapped", "sc-breed-rows-equal", "sc-breeds-untrained", "sc-channels-swapped",
         "sc-pixel-range-halved", "sc-pixel-range-shifted", "sc-output-washed-out", "sc-t-blind", "sc-position-blind",
         "sc-raw-weights",
         *(f"sc-under-trained-{n}" for n in UNDER_TRAINED_STEPS))


def broken_checkpoint(name: str, good: Path, out: Path, under_trained_dir: Path) -> Path:
    """Writes <out>/checkpoint.pt: the good checkpoint with the fault of `name`, or the kept step-N checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "checkpoint.pt"
    if name.startswith("sc-under-trained-"):
        step = int(name.rsplit("-", 1)[1])
        src = under_trained_dir / f"checkpoint.step{step}.pt"
        if not src.is_file():
            raise FileNotFoundError(
                f"{src}: no step-{step} checkpoint; make it with /usr/bin/python3 reference/python/train.py --steps 5000 "
                f"--stop-at 1000 --seed 1 --keep-steps {','.join(map(str, UNDER_TRAINED_STEPS))} --out {under_trained_dir}/checkpoint.pt")
        raw = torch.load(src, map_location="cpu")
        raw.setdefault("training", {})["mutant"] = f"{name}: {src.name} as saved by train.py"
        torch.save(raw, dst)
        return dst
    raw = torch.load(good, map_location="cpu")
    cfg = raw["config"]
    if name == "sc-raw-weights":
        raw["ema_params"] = {k: v.clone() for k, v in raw["model_state_dict"].items()}
    else:
        edit = edits(int(cfg["num_classes"]), int(cfg.get("in_channels", 3)))[name]
        for key in ("ema_params", "model_state_dict"):
            state = {k: v.clone() for k, v in raw[key].items()}
            edit(state)
            raw[key] = state
    raw.setdefault("training", {})
    raw["training"] = {**raw["training"], "mutant": name}
    torch.save(raw, dst)
    return dst


def make(name: str, good: Path, out: Path, under_trained_dir: Path) -> list[str]:
    """The broken checkpoint and the bundle make_bundle.py makes from it, in <out>; returns the files (relative)."""
    import shutil
    from tinydit.pipeline import finish_training
    if out.exists():
        shutil.rmtree(out)
    t0 = time.time()
    ckpt = broken_checkpoint(name, good, out, under_trained_dir)
    finish_training(ckpt, out, name=f"tinydit-{name}", trained=True, stats_seeds=STATS_SEEDS,
                    export_args=["--checkpoint", "checkpoint.pt", "--out", ".", "--name", f"tinydit-{name}",
                                 "--stats-seeds", str(STATS_SEEDS)],
                    log=lambda m: print(f"  {m}", flush=True))
    print(f"  {name}: bundle in {time.time() - t0:.0f} s", flush=True)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
