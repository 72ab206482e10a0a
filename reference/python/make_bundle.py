"""Write a golden bundle from a checkpoint: the three ONNX variants, the goldens and the manifest.

    /usr/bin/python3 reference/python/make_bundle.py --checkpoint fixtures/default/checkpoint.pt --out fixtures/default

A bundle of a randomly initialised model (speed and memory only; the manifest says trained: false), with
goldens reduced to what finishes in minutes on 2 cores (used by scripts/production.ts):

    /usr/bin/python3 reference/python/make_bundle.py --random-config tinydit_128 --out reports/production-bundle \\
        --trajectory-seeds 7 --trajectory-breeds 3,10 --trajectory-steps 8 --stats-seeds 1 --stats-steps 4 \\
        --velocity-times 0,0.5,1
Without any of the reduced-goldens options the bundle is exactly the default one (finish_training).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.pipeline import finish_training  # noqa: E402

# std of the normal draw that replaces the zero initialisation of adaLN-zero and the output layer in a random
# bundle: without it the velocity is identically 0 (ORIGIN failure 2); 0.02 is the scale of the other inits.
RANDOM_PERTURB_STD = 0.02


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split(",") if v.strip()]


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def random_checkpoint(config_name: str, out: Path, seed: int) -> Path:
    """Saves a randomly initialised TinyDiT of a named config as <out>/checkpoint.pt (step 0, ema = raw)."""
    from tinydit.model import CONFIGS, TinyDiT
    if config_name not in CONFIGS:
        raise SystemExit(f"--random-config: unknown config '{config_name}' (known: {', '.join(CONFIGS)})")
    cfg = CONFIGS[config_name]
    torch.manual_seed(seed)
    model = TinyDiT(cfg)
    zero_init = [blk.adaLN_modulation[-1] for blk in model.blocks] + [model.final_layer.adaLN_modulation[-1],
                                                                      model.final_layer.linear]
    with torch.no_grad():
        for lin in zero_init:
            lin.weight.normal_(0.0, RANDOM_PERTURB_STD)
            lin.bias.normal_(0.0, RANDOM_PERTURB_STD)
        # The initial biases (zeros) and LayerNorm scales (ones) are identical tensors, and the exporter merges
        # identical initializers into one: the ONNX would then hold fewer parameters than the checkpoint (45,312
        # fewer for tinydit_128) and the contract's parameter count would fail. Distinct values keep each its own.
        for name, p in model.named_parameters():
            if name.endswith(".bias") or ".norm" in name:
                p.add_(torch.randn_like(p) * RANDOM_PERTURB_STD)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "checkpoint.pt"
    torch.save({"model_state_dict": state, "ema_params": state, "step": 0, "config": cfg.to_dict(),
                "random_init": {"seed": seed, "perturb_std": RANDOM_PERTURB_STD}}, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--random-config", help="a randomly initialised model of this config (implies --untrained)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed of --random-config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--untrained", action="store_true", help="mark the bundle as untrained (speed/memory use only)")
    ap.add_argument("--stats-seeds", type=int, default=32)
    # reduced goldens (a large model on a small machine); absent = the default bundle's goldens
    ap.add_argument("--steps", type=int, default=None, help="sampler.defaultSteps (default 50)")
    ap.add_argument("--trajectory-seeds", type=_ints, default=None, help="e.g. 7 (default 7,42)")
    ap.add_argument("--trajectory-breeds", type=_ints, default=None, help="e.g. 3,10 (default: all breeds)")
    ap.add_argument("--trajectory-steps", type=int, default=None, help="steps of the golden trajectories (default: --steps)")
    ap.add_argument("--stats-steps", type=int, default=None, help="steps of the statistics images (default: --steps)")
    ap.add_argument("--velocity-times", type=_floats, default=None, help="e.g. 0,0.5,1 (default 0,0.25,0.5,0.75,1)")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    reduced = {k: v for k, v in {
        "steps": a.steps, "trajectory_seeds": a.trajectory_seeds, "trajectory_breeds": a.trajectory_breeds,
        "trajectory_steps": a.trajectory_steps, "stats_steps": a.stats_steps, "velocity_times": a.velocity_times,
    }.items() if v is not None}
    if a.random_config is None and not reduced:
        res = finish_training(a.checkpoint, a.out, name=a.name, trained=not a.untrained, stats_seeds=a.stats_seeds,
                              export_args=sys.argv[1:])
    else:
        res = _make_custom(a, reduced)
    print(f"{res} in {time.time() - t0:.0f}s")
    return 0 if res["verified"] else 1


def _make_custom(a: argparse.Namespace, reduced: dict) -> dict:
    """finish_training with a random model and/or reduced goldens (same verification of the float exports)."""
    from export_dit_onnx import verify_export
    from tinydit.checkpoint import CheckpointError, load_checkpoint, sanity_problems
    from tinydit.goldens import GUIDANCE_SCALE, write_bundle
    out = Path(a.out)
    trained = not a.untrained and a.random_config is None
    ckpt = random_checkpoint(a.random_config, out, a.seed) if a.random_config else Path(a.checkpoint)
    ck = load_checkpoint(ckpt, weights="ema")
    # a random model must still pass the sanity checks: its perturbed output layer makes the velocity non-zero
    problems = sanity_problems(ck) if trained or a.random_config else []
    if problems:
        raise CheckpointError("; ".join(problems))
    name = a.name or (f"{ck.config.name}-random-seed{a.seed}" if a.random_config else f"{ck.config.name}-step{ck.step}")
    manifest = write_bundle(ck, out, name, trained=trained, stats_seeds=list(range(1000, 1000 + a.stats_seeds)),
                            export_args=sys.argv[1:], **reduced)
    verified = True
    for variant, guided in (("guided", True), ("raw", False)):
        ok, lines = verify_export(ck.model, out / manifest["variants"][variant]["file"], guided, GUIDANCE_SCALE,
                                  ck.config.null_index)
        verified &= ok
        print(f"verify {variant}: {'PASSED' if ok else 'FAILED'}")
        if not ok:
            for line in lines:
                print("  " + line)
    return {"status": "completed", "verified": verified, "bundle": str(out), "step": ck.step}


if __name__ == "__main__":
    raise SystemExit(main())
