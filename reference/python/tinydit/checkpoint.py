"""Loading and validating TinyDiT checkpoints, with messages that name the file and the problem."""
from __future__ import annotations

import math
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import TinyDiT, TinyDiTConfig, config_from_dict

REQUIRED_KEYS = ("model_state_dict", "ema_params", "step", "config")


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file, the problem and the fix."""


@dataclass
class LoadedCheckpoint:
    path: Path
    config: TinyDiTConfig
    step: int
    model: TinyDiT  # with the weights chosen by `weights`
    raw: dict
    weights: str


def _check_state(path: Path, key: str, state: object, model: TinyDiT) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: '{key}' is {type(state).__name__}, expected a state dict")
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: '{key}' does not match the TinyDiT architecture of its config "
            f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, unexpected {unexpected[:4]}"
            f"{'...' if len(unexpected) > 4 else ''}); re-save it from the training run that made it")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{path}: '{key}.{name}' is not a tensor")
        if tuple(tensor.shape) != tuple(want[name].shape):
            raise CheckpointError(f"{path}: '{key}.{name}' has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(want[name].shape)}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{path}: '{key}.{name}' holds {bad} NaN/Inf value(s); the training run diverged")


def load_checkpoint(path: str | Path, weights: str = "ema") -> LoadedCheckpoint:
    """Loads and validates a checkpoint; `weights` is 'ema' (what ships) or 'model' (raw weights)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; pass --checkpoint with the .pt that training wrote")
    try:
        raw = torch.load(path, map_location="cpu")
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{path}: cannot be read as a torch checkpoint ({type(e).__name__}: {e}); "
                              "the file is truncated or not a checkpoint: copy it again from the training run") from e
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: holds a {type(raw).__name__}, expected a dict with keys {list(REQUIRED_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"{path}: missing key(s) {missing}; a TinyDiT checkpoint has {list(REQUIRED_KEYS)} "
                              f"(found {sorted(raw)})")
    if not isinstance(raw["config"], dict):
        raise CheckpointError(f"{path}: 'config' is {type(raw['config']).__name__}, expected a dict")
    try:
        cfg = config_from_dict(raw["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: 'config' is not a TinyDiT config: {e}") from e
    if not isinstance(raw["step"], int) or raw["step"] < 0:
        raise CheckpointError(f"{path}: 'step' is {raw['step']!r}, expected a non-negative int")
    model = TinyDiT(cfg)
    for key in ("model_state_dict", "ema_params"):
        _check_state(path, key, raw[key], model)
    model.load_state_dict(raw["ema_params"] if weights == "ema" else raw["model_state_dict"])
    model.eval()
    return LoadedCheckpoint(path, cfg, raw["step"], model, raw, weights)


def output_layer_is_zero(model: TinyDiT) -> bool:
    lin = model.final_layer.linear
    return bool(torch.count_nonzero(lin.weight) == 0 and torch.count_nonzero(lin.bias) == 0)


def sanity_problems(ck: LoadedCheckpoint) -> list[str]:
    """Problems a checkpoint may have while still loading: untrained output layer, NaN output."""
    problems = []
    if output_layer_is_zero(ck.model):
        problems.append(f"{ck.path}: final_layer.linear is all zeros (step {ck.step}): the model predicts velocity 0, "
                        "an untrained or step-0 checkpoint; train it, or pick the checkpoint of the finished run")
    cfg = ck.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    with torch.no_grad():
        out = ck.model(x, torch.tensor([0.0, 0.5]), torch.tensor([0, cfg.null_index]))
    if not bool(torch.isfinite(out).all()):
        problems.append(f"{ck.path}: a dummy inference gives NaN/Inf")
    elif float(out.abs().max()) == 0.0:
        problems.append(f"{ck.path}: a dummy inference gives an all-zero velocity")
    elif not math.isfinite(float(out.std())):
        problems.append(f"{ck.path}: output statistics are not finite")
    return problems
