"""The golden bundle: manifest, three ONNX variants and the goldens that the TypeScript gate compares
against. Every array is a plain .npy readable with numpy.load; goldens/index.json says what each is."""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image, ImageDraw

from .case_id import case_id
from .checkpoint import LoadedCheckpoint
from .dataset import BREEDS, render
from .export import REPO_ROOT, export_onnx, io_signature, quantize_file, run_onnx_node
from .model import count_parameters
from .noise import seeded_noise
from .sampler import sample, to_image_uint8
from .tolerance import TRAJECTORY, VELOCITY

FORMAT = "tinydit-bundle/1"
GUIDANCE_SCALE = 1.5
DEFAULT_STEPS = 50
VELOCITY_TIMES = [0.0, 0.25, 0.5, 0.75, 1.0]  # both ends of [0,1] included
TRAJECTORY_SEEDS = [7, 42]
STATS_SEEDS = list(range(1000, 1032))  # 32 seeds per breed for the reference statistics
NOISE_SEEDS = [0, 1, 7, 42, 1000, 123456789, 4294967295]
# Quantized variant: its error is quantisation, not float noise. Its thresholds are this many times its
# own measured error on the goldens (the spread a re-quantisation of the same weights stays within).
QUANT_MARGIN = 2.0
# The training data of train.py (the procedural dataset at the config's image size), by the id of its yardstick in
# the gate (reference/yardsticks/<id>/, pinned in harness/checks/yardstick.ts); a model trained on other data names
# its own.
def procedural_dataset(image_size: int) -> str:
    """The yardstick id of train.py's data at this size: tinydit-procedural-32-v1, tinydit-procedural-128-v1."""
    return f"tinydit-procedural-{image_size}-v1"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _velocity_inputs(cfg, times: list[float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Rows: every breed and the null token x every t; x_t = t x1 + (1-t) x0 on a dataset image."""
    rng = np.random.default_rng(2024)
    xs, ts, bs, cases = [], [], [], []
    n = cfg.image_size
    for ti, t in enumerate(VELOCITY_TIMES if times is None else times):
        for b in range(cfg.num_classes + 1):
            row = len(xs)
            x0 = seeded_noise(100 + row, (3, n, n))
            x1 = render(min(b, cfg.num_classes - 1), rng, n)
            xs.append((t * x1 + (1 - t) * x0).astype(np.float32))
            ts.append(t)
            bs.append(b)
            name = BREEDS[b] if b < cfg.num_classes else "null"
            cases.append({"id": case_id("velocity", breed=name, t=f"{t:g}", batch=1), "row": row, "breed": b, "t": t})
    return np.stack(xs), np.array(ts, np.float32), np.array(bs, np.int64), cases


def _run(model, x, t, b, guided: bool, null_index: int):
    with torch.no_grad():
        if guided:
            return model.forward_with_cfg(x, t, b, GUIDANCE_SCALE, null_index)
        return model(x, t, b)


def _save(path: Path, arr: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return path.as_posix()


def _node_sample(model_path: Path, guidance: str, size: int, null_index: int, breeds: list[int], seeds: list[int],
                 steps: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.npy"
        cmd = [str(REPO_ROOT / "node_modules" / ".bin" / "tsx"), str(REPO_ROOT / "harness" / "cli" / "ort-sample.ts"),
               "--model", str(model_path), "--guidance", guidance, "--scale", str(GUIDANCE_SCALE),
               "--null", str(null_index), "--size", str(size), "--breeds", ",".join(map(str, breeds)),
               "--seeds", ",".join(map(str, seeds)), "--steps", str(steps), "--out", str(out)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"ort-sample failed on {model_path}:\n{res.stdout}\n{res.stderr}")
        return np.load(out)


def write_bundle(ck: LoadedCheckpoint, out: Path, name: str, trained: bool = True, steps: int = DEFAULT_STEPS,
                 stats_seeds: list[int] | None = None, trajectory_seeds: list[int] | None = None,
                 export_args: list[str] | None = None, log=print, trajectory_breeds: list[int] | None = None,
                 trajectory_steps: int | None = None, stats_steps: int | None = None,
                 velocity_times: list[float] | None = None, training_dataset: str | None = "procedural") -> dict:
    """steps is the manifest's sampler.defaultSteps; the reduced-goldens options (None = the defaults: all
    breeds, trajectories and statistics at `steps`, VELOCITY_TIMES) size the goldens of a large model
    (scripts/production.ts) without changing what the default bundle holds. training_dataset is the manifest's
    training.dataset: the id of the gate's yardstick for the data the model was trained on (docs/yardstick.md;
    "procedural", the default, is train.py's data at the model's size; None writes no training field, and the gate
    then cannot accept the bundle)."""
    cfg = ck.config
    if training_dataset == "procedural":
        training_dataset = procedural_dataset(cfg.image_size)
    null = cfg.null_index
    import time
    t_start = time.time()
    _log = log
    log = lambda msg: _log(f"[{time.time() - t_start:6.1f}s] {msg}")  # noqa: E731
    stats_seeds = STATS_SEEDS if stats_seeds is None else stats_seeds
    trajectory_seeds = TRAJECTORY_SEEDS if trajectory_seeds is None else trajectory_seeds
    velocity_times = VELOCITY_TIMES if velocity_times is None else velocity_times
    tsteps = steps if trajectory_steps is None else trajectory_steps
    ssteps = steps if stats_steps is None else stats_steps
    out.mkdir(parents=True, exist_ok=True)
    gdir = out / "goldens"
    model = ck.model
    m64 = copy.deepcopy(model).double()
    meta = {"tinydit.config": cfg.name, "tinydit.step": str(ck.step), "tinydit.weights": ck.weights,
            "tinydit.null_index": str(null)}

    # 1. the three ONNX variants
    paths = {"guided": out / "model.onnx", "raw": out / "model_raw.onnx", "quantized": out / "model_quant.onnx"}
    export_onnx(model, paths["guided"], True, GUIDANCE_SCALE, null, {**meta, "tinydit.guidance": f"baked:{GUIDANCE_SCALE}"})
    export_onnx(model, paths["raw"], False, GUIDANCE_SCALE, null, {**meta, "tinydit.guidance": "none"})
    nq = quantize_file(paths["guided"], paths["quantized"], {"tinydit.quantized": "dynamic-uint8"})
    log(f"exported guided, raw and quantized ({nq} quantised MatMul/Gemm)")

    # 2. seeded noise, for the TypeScript generator's bit-exactness test
    noise_entries = []
    for s in NOISE_SEEDS:
        for size in sorted({cfg.image_size, 128}):
            f = f"noise/seed{s}_{size}.npy"
            _save(gdir / f, seeded_noise(s, (1, 3, size, size)))
            noise_entries.append({"seed": s, "shape": [1, 3, size, size], "file": f})

    # 3. single-call velocity cases, float32 expected + float64 noise floor per case and variant
    x, t, b, cases = _velocity_inputs(cfg, velocity_times)
    files = {"noise": "velocity/noise.npy", "timestep": "velocity/timestep.npy", "breed": "velocity/breed.npy"}
    _save(gdir / files["noise"], x)
    _save(gdir / files["timestep"], t)
    _save(gdir / files["breed"], b)
    expected, floors = {}, {}
    for variant, guided in (("guided", True), ("raw", False)):
        r32 = _run(model, torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(b), guided, null).numpy()
        r64 = _run(m64, torch.from_numpy(x).double(), torch.from_numpy(t).double(), torch.from_numpy(b), guided, null).numpy()
        floor = np.abs(r32.astype(np.float64) - r64).reshape(len(x), -1).max(axis=1)
        expected[variant] = f"velocity/{variant}.npy"
        floors[variant] = f"velocity/{variant}_floor.npy"
        _save(gdir / expected[variant], r32.astype(np.float32))
        _save(gdir / floors[variant], floor)
        log(f"velocity {variant}: {len(x)} cases, floor median {np.median(floor):.3g} max {floor.max():.3g}")
    n_t = len(velocity_times)
    per_t = cfg.num_classes + 1
    batches = [{"id": case_id("velocity", t=f"{velocity_times[i]:g}", batch=per_t), "rows": list(range(i * per_t, (i + 1) * per_t))}
               for i in range(n_t)]

    # 4. full trajectories (every x_t) at the default steps, float32 and the float64 floor per step
    traj_entries = []
    traj_floor = []
    breeds_all = list(range(cfg.num_classes)) if trajectory_breeds is None else trajectory_breeds
    for s in trajectory_seeds:
        x0 = np.stack([seeded_noise(s, (3, cfg.image_size, cfg.image_size))] * len(breeds_all))
        bb = torch.tensor(breeds_all)
        _, tr32 = sample(model, torch.from_numpy(x0), bb, tsteps, GUIDANCE_SCALE, null, keep_trajectory=True)
        _, tr64 = sample(m64, torch.from_numpy(x0).double(), bb, tsteps, GUIDANCE_SCALE, null, keep_trajectory=True)
        a32 = torch.stack(tr32).numpy()  # [N+1, B, 3, H, W]
        a64 = torch.stack(tr64).numpy()
        for k, breed in enumerate(breeds_all):
            f = f"trajectories/seed{s}_breed{breed}.npy"
            img = f"images/seed{s}_breed{breed}.png"
            _save(gdir / f, np.ascontiguousarray(a32[:, k]))
            (gdir / img).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_image_uint8(a32[-1, k])).save(gdir / img)
            traj_floor.append(np.abs(a32[:, k].astype(np.float64) - a64[:, k]).reshape(tsteps + 1, -1).max(axis=1))
            traj_entries.append({"id": case_id("trajectory", breed=BREEDS[breed], seed=s, steps=tsteps), "seed": s,
                                 "breed": breed, "file": f, "image": img, "floorRow": len(traj_floor) - 1})
    _save(gdir / "trajectories/floor.npy", np.stack(traj_floor))
    log(f"trajectories: {len(traj_entries)}, final-step floor max {np.stack(traj_floor)[:, -1].max():.3g}")

    # 5. reference images for the per-breed statistics (and the sample grid)
    stats = np.zeros((cfg.num_classes, len(stats_seeds), cfg.image_size, cfg.image_size, 3), np.uint8)
    for breed in range(cfg.num_classes):
        x0 = np.stack([seeded_noise(s, (3, cfg.image_size, cfg.image_size)) for s in stats_seeds])
        xf, _ = sample(model, torch.from_numpy(x0), torch.full((len(stats_seeds),), breed), ssteps, GUIDANCE_SCALE, null)
        for k in range(len(stats_seeds)):
            stats[breed, k] = to_image_uint8(xf[k].numpy())
    _save(gdir / "stats/images.npy", stats)
    grid = sample_grid(stats[:, :8])
    grid.save(out / "samples_grid.png")
    log(f"reference statistics images: {stats.shape}")

    # 6. the quantized variant's own profile: its error on the velocity goldens and on final images
    got = run_onnx_node(paths["quantized"], x, t, b)
    ref = np.load(gdir / expected["guided"])
    rel = np.linalg.norm((got - ref).reshape(len(x), -1), axis=1) / np.maximum(np.linalg.norm(ref.reshape(len(x), -1), axis=1), 1e-12)
    tb = [(e["breed"], e["seed"]) for e in traj_entries]
    xq = _node_sample(paths["quantized"], "baked", cfg.image_size, null, [p[0] for p in tb], [p[1] for p in tb], tsteps)
    img_err = []
    for k, e in enumerate(traj_entries):
        golden = np.asarray(Image.open(gdir / e["image"]).convert("RGB"), dtype=np.float64)
        img_err.append(float(np.abs(to_image_uint8(xq[k]).astype(np.float64) - golden).mean()))
    quant_profile = {
        "measured": {"velocityRelL2Max": float(rel.max()), "velocityRelL2Median": float(np.median(rel)),
                     "imageMeanAbsMax": float(max(img_err)), "imageMeanAbsMedian": float(np.median(img_err)),
                     "imageCases": len(img_err)},
        "margin": QUANT_MARGIN,
        "velocityRelL2Max": float(rel.max()) * QUANT_MARGIN,
        "imageMeanAbsMax": float(max(img_err)) * QUANT_MARGIN,
        "reason": "uint8 weights and activations put the quantized graph's error far above float noise; it is gated "
                  "on relative L2 of each velocity case and on the mean absolute pixel difference of its final images "
                  f"against the float goldens, each at {QUANT_MARGIN}x the error measured when the bundle was made",
    }
    log(f"quantized: velocity rel-L2 max {rel.max():.3g}, image mean|diff| max {max(img_err):.3g} levels")

    index = {
        "format": FORMAT,
        "noise": noise_entries,
        "velocity": {"inputs": files, "cases": cases, "batches": batches, "expected": expected, "noiseFloor": floors,
                     "expectedFor": {"guided": "guided", "raw": "raw", "quantized": "guided"}},
        "trajectories": {"steps": tsteps, "cfgScale": GUIDANCE_SCALE, "cases": traj_entries,
                         "floor": "trajectories/floor.npy", "variant": "guided"},
        "stats": {"images": "stats/images.npy", "seeds": stats_seeds, "steps": ssteps, "cfgScale": GUIDANCE_SCALE,
                  "layout": "[breed, seed, H, W, RGB] uint8"},
    }
    (gdir / "index.json").write_text(json.dumps(index, indent=1))

    guided_proto = onnx.load(str(paths["guided"]))
    sig = io_signature(guided_proto)
    manifest = {
        "format": FORMAT,
        "name": name,
        "trained": trained,
        **({"training": {"dataset": training_dataset}} if training_dataset else {}),
        "identity": {
            "checkpoint": {"file": ck.path.name if ck.path.parent.resolve() == out.resolve() else None,
                           "sha256": sha256(ck.path), "step": ck.step, "weights": ck.weights},
            "config": cfg.to_dict(),
            "parameters": count_parameters(model),
        },
        "variants": {
            "guided": {"file": paths["guided"].name, "sha256": sha256(paths["guided"]), "bytes": paths["guided"].stat().st_size,
                       "guidance": "baked", "quantized": False},
            "raw": {"file": paths["raw"].name, "sha256": sha256(paths["raw"]), "bytes": paths["raw"].stat().st_size,
                    "guidance": "none", "quantized": False},
            "quantized": {"file": paths["quantized"].name, "sha256": sha256(paths["quantized"]),
                          "bytes": paths["quantized"].stat().st_size, "guidance": "baked", "quantized": True,
                          "quantizedFrom": "guided"},
        },
        "contract": {"opset": 17, "inputs": sig["inputs"], "outputs": sig["outputs"], "imageSize": cfg.image_size,
                     "channels": cfg.in_channels, "dynamicAxes": ["batch"]},
        "guidance": {"scale": GUIDANCE_SCALE, "nullIndex": null, "formula": "v_u + s * (v_c - v_u)"},
        "breeds": BREEDS[: cfg.num_classes],
        "sampler": {"method": "euler", "defaultSteps": steps, "timeGrid": "t_i = i/N, i = 0..N-1 (float32)",
                    "update": "x += (1/N) * v in float64, stored float32",
                    "noise": "mulberry32 + Box-Muller pairs, NCHW, float32", "stepsRange": [10, 100, 5],
                    "cfgRange": [1.0, 3.0]},
        "pixels": {"range": [-1, 1], "toUint8": "clamp(round((x + 1) / 2 * 255), 0, 255)", "channels": "RGB",
                   "layout": "NCHW", "alpha": 255},
        "tolerance": {"velocity": VELOCITY, "trajectory": TRAJECTORY, "quantized": quant_profile},
        "provenance": {"producer": "reference/python/make_bundle.py", "torch": torch.__version__,
                       "onnx": onnx.__version__, "numpy": np.__version__, "python": platform.python_version(),
                       "exportArgs": export_args or [], "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def sample_grid(images: np.ndarray, scale: int = 3) -> Image.Image:
    """images [breeds, n, H, W, 3] -> one row per breed with its name at the left."""
    nb, n, h, w, _ = images.shape
    label_w = 130
    grid = Image.new("RGB", (label_w + n * w * scale, nb * h * scale), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for bi in range(nb):
        draw.text((6, bi * h * scale + h * scale // 2 - 6), f"{bi} {BREEDS[bi]}", fill=(0, 0, 0))
        for k in range(n):
            tile = Image.fromarray(images[bi, k]).resize((w * scale, h * scale), Image.NEAREST)
            grid.paste(tile, (label_w + k * w * scale, bi * h * scale))
    return grid
