"""Train the embedded fixture TinyDiT on the procedural dataset, on CPU.

Flow matching: x_t = t x1 + (1-t) x0, target v = x1 - x0, t ~ U(0,1); label dropout to the null token
(probability 0.1) so that classifier-free guidance works; EMA of the weights. The checkpoint carries the
keys the real project uses: model_state_dict, ema_params, step, config (no optimiser state).

    /usr/bin/python3 reference/python/train.py --steps 4000 --out fixtures/default/checkpoint.pt
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.dataset import make_dataset  # noqa: E402
from tinydit.model import CONFIGS, PREDICTIONS, TinyDiT  # noqa: E402


def save_checkpoint(path: Path, model: TinyDiT, ema: TinyDiT, step: int, extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({
        "model_state_dict": model.state_dict(),
        "ema_params": ema.state_dict(),
        "step": step,
        "config": model.cfg.to_dict(),
        "training": extra,
    }, tmp)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tinydit_fixture32", choices=sorted(CONFIGS))
    ap.add_argument("--prediction", default="velocity", choices=PREDICTIONS, help="what the last layer predicts "
                    "(model.py TinyDiTConfig.prediction); 'x' for tinydit_128, whose velocity head floors at half "
                    "the noise")
    ap.add_argument("--t-sampling", default="uniform", choices=("uniform", "logit-normal"), help="how training "
                    "draws t: uniform on [0,1], or sigmoid(N(-0.8, 0.8)) (most draws at t 0.1-0.6, the noisy half "
                    "where an image's layout is decided; 'x' prediction's velocity loss weighs t near 1 by up to "
                    "1/0.05^2, and uniform draws then teach fine detail before layout)")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--label-dropout", type=float, default=0.1)
    ap.add_argument("--ema-decay", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--stop-at", type=int, default=None, help="stop after this step (the schedule stays the one of "
                    "--steps: the early checkpoints of a full run, without the rest of it)")
    ap.add_argument("--keep-steps", default="", help="comma-separated steps whose checkpoint is also kept as "
                    "<out stem>.step<N>.pt (under-trained models for calibration and the mutant catalogue)")
    ap.add_argument("--resume", help="continue from a checkpoint of this script (weights, EMA and step; the "
                    "optimiser restarts with a short warm-up, since checkpoints carry no optimiser state)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = dataclasses.replace(CONFIGS[a.config], prediction=a.prediction)
    t0 = time.time()
    data_x, data_y = make_dataset(a.per_class, seed=a.seed + 1, size=cfg.image_size)
    data_x, data_y = torch.from_numpy(data_x), torch.from_numpy(data_y)
    print(f"dataset {tuple(data_x.shape)} in {time.time() - t0:.1f}s", flush=True)

    model = TinyDiT(cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    start = 0
    if a.resume:
        ck = torch.load(a.resume, map_location="cpu")
        model.load_state_dict(ck["model_state_dict"])
        ema.load_state_dict(ck["ema_params"])
        start = int(ck["step"])
        print(f"resumed from {a.resume} at step {start}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0, betas=(0.9, 0.99))
    warmup = 200 if start == 0 else 50
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup)
        * (0.5 * (1 + np.cos(np.pi * min(s + start, a.steps) / a.steps)) * 0.9 + 0.1))
    gen = torch.Generator().manual_seed(a.seed + start)  # a resumed run draws fresh batches
    out = Path(a.out)
    keep = {int(v) for v in a.keep_steps.split(",") if v.strip()}
    t0 = time.time()
    losses: list[float] = []
    last = a.steps if a.stop_at is None else min(a.stop_at, a.steps)
    for step in range(start + 1, last + 1):
        idx = torch.randint(0, data_x.shape[0], (a.batch,), generator=gen)
        x1, y = data_x[idx], data_y[idx].clone()
        drop = torch.rand(a.batch, generator=gen) < a.label_dropout
        y[drop] = cfg.null_index
        x0 = torch.randn(x1.shape, generator=gen)
        if a.t_sampling == "logit-normal":
            t = torch.sigmoid(torch.randn(a.batch, generator=gen) * 0.8 - 0.8)
        else:
            t = torch.rand(a.batch, generator=gen)
        xt = t[:, None, None, None] * x1 + (1 - t[:, None, None, None]) * x0
        loss = torch.mean((model(xt, t, y) - (x1 - x0)) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(a.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        losses.append(loss.item())
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(losses[-50:]):.4f} {(time.time() - t0) / (step - start):.3f}s/step", flush=True)
        if step % a.save_every == 0 or step == last or step in keep:
            extra = {
                "dataset": f"procedural, {a.per_class} per class, seed {a.seed + 1}", "batch": a.batch, "lr": a.lr,
                "label_dropout": a.label_dropout, "ema_decay": a.ema_decay, "seed": a.seed, "steps": a.steps,
                "prediction": cfg.prediction, "t_sampling": a.t_sampling,
                **({"resumed_from": {"file": a.resume, "step": start}} if a.resume else {}),
                "final_loss_mean50": float(np.mean(losses[-50:])), "seconds": time.time() - t0}
            save_checkpoint(out, model, ema, step, extra)
            if step in keep:
                save_checkpoint(out.with_name(f"{out.stem}.step{step}{out.suffix}"), model, ema, step, extra)
    print(f"done: {last} steps in {time.time() - t0:.0f}s -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
