"""Make the gate's yardstick for one training dataset: a judge trained on the TRAINING data, and what it
measures on held-out training images (docs/yardstick.md).

The embedded model's dataset (the procedural images of reference/python/tinydit/dataset.py, exactly the set
train.py trains on: make_dataset(1000, seed=1) at 32 px):

    /usr/bin/python3 reference/python/make_yardstick.py --procedural --out reference/yardsticks/tinydit-procedural-32-v1

A folder of images, one subfolder per breed (names as the manifest's breeds; case, spaces, '_' and '-' are
ignored when matching), e.g. Oxford-IIIT Pet for the 128 px model:

    /usr/bin/python3 reference/python/make_yardstick.py --images data/pets-by-breed --size 128 \\
        --id oxford-pets-128-v1 --out reference/yardsticks/oxford-pets-128-v1

Each class is split by a seeded permutation into train (judge training only), ref (reference features) and
null (the null draws of the split-half bands, then the judge's held-out accuracy together with ref). Nothing
held out is ever used in training.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep (2 shared cores)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.dataset import BREEDS, make_dataset  # noqa: E402
from tinydit.export import REPO_ROOT  # noqa: E402
from tinydit.goldens import procedural_dataset  # noqa: E402
from tinydit.judge import (  # noqa: E402
    JUDGE_INPUT, JUDGE_OUTPUTS, VALIDITY_FEATURES, Judge, augment, count_params, judge_input, kid, kid_yy_mean,
    poly_kernel, to_uint8_nchw, validity_matrix,
)

FORMAT = "tinydit-yardstick/1"
# the embedded model's training set: train.py --per-class 1000 --seed 0 draws make_dataset(1000, seed=0 + 1)
PROCEDURAL_PER_CLASS = 1000
PROCEDURAL_SEED = 1
# sample sizes per breed at which the split-half bands are measured (the gate uses one of them)
BAND_SIZES = [4, 8, 12, 16, 24, 32]
BAND_DRAWS = 1000
CROSS_DRAWS = 400
QUANTILES = [0.0, 0.001, 0.005, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.995, 0.999, 1.0]
PROBES_PER_BREED = 2
# a yardstick the gate can use: its judge recognises (nearly) every held-out training image of every breed
MIN_HELD_OUT_ACCURACY = 0.9


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


# ---------------------------------------------------------------------------------------------------------
# Data

def load_procedural(per_class: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    x, y = make_dataset(per_class, seed=seed, size=size)
    src = {"kind": "procedural", "generator": "reference/python/tinydit/dataset.py make_dataset",
           "perClass": per_class, "seed": seed, "size": size,
           "note": "exactly the embedded model's training set (train.py --per-class 1000 --seed 0 -> make_dataset(1000, seed=1))"}
    return to_uint8_nchw(x), y, list(BREEDS), src


def load_folder(root: Path, size: int, breeds: list[str] | None, max_per_class: int | None = None,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    from PIL import Image, UnidentifiedImageError
    if not root.is_dir():
        raise SystemExit(f"--images {root}: not a directory (one subfolder per breed)")
    subs = {(_norm(p.name)): p for p in sorted(root.iterdir()) if p.is_dir()}
    names = breeds if breeds is not None else list(BREEDS)
    missing = [b for b in names if _norm(b) not in subs]
    if missing:
        raise SystemExit(f"--images {root}: no subfolder for {', '.join(missing)} (has: {', '.join(p.name for p in subs.values())}); "
                         "name one subfolder per breed of the manifest, or pass --breeds")
    xs, ys, counts, skipped = [], [], {}, {}
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
    rng = np.random.default_rng(seed)
    for b, name in enumerate(names):
        files = sorted(p for p in subs[_norm(name)].iterdir() if p.suffix.lower() in exts)
        if max_per_class is not None and len(files) > max_per_class:  # a seeded subset (e.g. 25 dog breeds in Other)
            files = [files[i] for i in sorted(rng.choice(len(files), max_per_class, replace=False))]
        n_ok = 0
        for f in files:
            try:
                im = Image.open(f).convert("RGB")
            except (UnidentifiedImageError, OSError) as e:  # Oxford-IIIT Pet holds a few unreadable files
                skipped[str(f)] = str(e)[:120]
                continue
            n_ok += 1
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            if s != size:
                im = im.resize((size, size), Image.LANCZOS)
            xs.append(np.asarray(im, np.uint8))
            ys.append(b)
        counts[name] = n_ok
    src = {"kind": "folder", "root": str(root), "size": size, "resize": "centre square crop, then Lanczos to size",
           "maxPerClass": max_per_class, "counts": counts, "skipped": skipped}
    return np.stack(xs), np.array(ys, np.int64), names, src


def split(y: np.ndarray, k: int, seed: int, fractions: tuple[float, float, float]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "ref": [], "null": []}
    for b in range(k):
        idx = np.flatnonzero(y == b)
        idx = idx[rng.permutation(len(idx))]
        n_ref = int(round(fractions[1] * len(idx)))
        n_null = int(round(fractions[2] * len(idx)))
        n_train = len(idx) - n_ref - n_null
        if n_train < 10 or n_ref < 8 or n_null < 8:
            raise SystemExit(f"class {b}: {len(idx)} images cannot make train/ref/null splits of at least 10/8/8")
        parts["train"] += idx[:n_train].tolist()
        parts["ref"] += idx[n_train:n_train + n_ref].tolist()
        parts["null"] += idx[n_train + n_ref:].tolist()
    return {k_: np.array(v, np.int64) for k_, v in parts.items()}


# ---------------------------------------------------------------------------------------------------------
# Training

def train_judge(x: np.ndarray, y: np.ndarray, k: int, size: int, epochs: int, batch: int, lr: float, seed: int,
                log) -> tuple[Judge, list[dict]]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Judge(k, size)
    xt = torch.from_numpy(judge_input(x))
    yt = torch.from_numpy(y)
    steps_per_epoch = (len(xt) + batch - 1) // batch
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    history = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        tot, correct, n = 0.0, 0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            xb = augment(xt[idx], gen)
            logits, _ = model(xb)
            loss = F.cross_entropy(logits, yt[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
            n += len(idx)
        history.append({"epoch": ep + 1, "loss": tot / n, "trainAccuracy": correct / n})
        log(f"epoch {ep + 1}/{epochs} loss {tot / n:.4f} train accuracy (augmented) {correct / n:.3f}")
    model.eval()
    return model, history


@torch.no_grad()
def run_judge(model: Judge, u8: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    xs = judge_input(u8)
    logits, feats = [], []
    for i in range(0, len(xs), batch):
        lo, fe = model(torch.from_numpy(xs[i:i + batch]))
        logits.append(lo.numpy())
        feats.append(fe.numpy())
    return np.concatenate(logits), np.concatenate(feats)


# ---------------------------------------------------------------------------------------------------------
# Export and its check in onnxruntime-node (the gate's runtime)

def export_judge(model: Judge, out: Path, meta: dict[str, str]) -> None:
    x = torch.zeros(2, 3, model.image_size, model.image_size)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (x,), buf, opset_version=17, input_names=[JUDGE_INPUT], output_names=JUDGE_OUTPUTS,
                          do_constant_folding=True,
                          dynamic_axes={JUDGE_INPUT: {0: "batch"}, **{o: {0: "batch"} for o in JUDGE_OUTPUTS}})
    proto = onnx.load_from_string(buf.getvalue())
    for key, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = key, v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))


def node_outputs(path: Path, u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both outputs of the exported judge from onnxruntime-node (ort-run.ts returns the first output, so the
    features come from a copy of the same graph with its outputs listed the other way round)."""
    x = judge_input(u8)

    def run(model_path: Path) -> np.ndarray:
        with tempfile.TemporaryDirectory() as d:
            inp, outp = Path(d) / "image.npy", Path(d) / "out.npy"
            np.save(inp, x)
            cmd = [str(REPO_ROOT / "node_modules" / ".bin" / "tsx"), str(REPO_ROOT / "harness" / "cli" / "ort-run.ts"),
                   "--model", str(model_path), "--input", f"{JUDGE_INPUT}={inp}", "--out", str(outp)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"onnxruntime-node failed on {model_path}:\n{res.stdout}\n{res.stderr}")
            return np.load(outp)

    logits = run(path)
    proto = onnx.load(str(path))
    outs = list(proto.graph.output)
    del proto.graph.output[:]
    proto.graph.output.extend([outs[1], outs[0]])
    with tempfile.TemporaryDirectory() as d:
        swapped = Path(d) / "judge_features_first.onnx"
        onnx.save(proto, str(swapped))
        feats = run(swapped)
    return logits, feats


# ---------------------------------------------------------------------------------------------------------
# Measurements on held-out images

def accuracy_block(logits: np.ndarray, y: np.ndarray, names: list[str]) -> dict:
    k = len(names)
    pred = logits.argmax(1)
    conf = np.zeros((k, k), np.int64)
    for t, p in zip(y, pred):
        conf[t, p] += 1
    # top-2: the true breed is the judge's first or second choice
    rank = (logits > logits[np.arange(len(y)), y][:, None]).sum(axis=1) + 1
    top2 = rank <= 2
    per = {names[b]: {"n": int(conf[b].sum()), "correct": int(conf[b, b]), "accuracy": float(conf[b, b] / max(conf[b].sum(), 1)),
                      "top2": float(top2[y == b].mean()),
                      "mostConfusedWith": names[int(np.argmax(np.where(np.arange(k) == b, -1, conf[b])))]}
           for b in range(k)}
    return {"overall": float((pred == y).mean()), "overallTop2": float(top2.mean()), "n": int(len(y)), "perBreed": per,
            "confusion": conf.tolist(),
            "confusionLayout": "confusion[true][predicted], breeds in manifest order"}


def _draw_kids(k_xx: np.ndarray, r_xy: np.ndarray, yy: float, n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """KID of `draws` random n-subsets (without replacement) of a pool x against a fixed y, from the pool's kernel
    matrix k_xx [Q,Q], its row means against y r_xy [Q] and the y-y term: the same unbiased estimator as kid()."""
    q = len(r_xy)
    idx = np.argsort(rng.random((draws, q)), axis=1)[:, :n]
    sub = k_xx[idx[:, :, None], idx[:, None, :]]
    xx = (sub.sum(axis=(1, 2)) - np.trace(sub, axis1=1, axis2=2)) / (n * (n - 1))
    return xx + yy - 2.0 * r_xy[idx].mean(axis=1)


def bands(ref_f: list[np.ndarray], null_f: list[np.ndarray], names: list[str], sizes: list[int], seed: int) -> dict:
    """Per breed and sample size n: the null distribution of KID(n held-out training images, the reference set)
    over BAND_DRAWS random draws from the null split, and the wrong-breed anchor: KID(n training images of another
    breed, this breed's reference) over CROSS_DRAWS draws per other breed; its floor is the lowest 1st percentile
    over the other breeds (the closest a real wrong breed comes in 99 % of draws)."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    k = len(names)
    yy = [kid_yy_mean(r) for r in ref_f]
    k_nn = [poly_kernel(x, x) for x in null_f]
    r_nr = [[poly_kernel(null_f[o], ref_f[b]).mean(axis=1) for b in range(k)] for o in range(k)]  # [o][b] -> [Q]
    for n in sizes:
        per: dict = {}
        for b in range(k):
            if n > len(null_f[b]) // 2:
                continue
            vals = _draw_kids(k_nn[b], r_nr[b][b], yy[b], n, BAND_DRAWS, rng)
            cross = {}
            for o in range(k):
                if o == b:
                    continue
                cv = _draw_kids(k_nn[o], r_nr[o][b], yy[b], n, CROSS_DRAWS, rng)
                cross[names[o]] = {"p01": float(np.quantile(cv, 0.01)), "p05": float(np.quantile(cv, 0.05)),
                                   "median": float(np.median(cv))}
            nearest = min(cross, key=lambda o_: cross[o_]["median"])
            floor_b = min(cross, key=lambda o_: cross[o_]["p01"])
            per[names[b]] = {
                "mean": float(vals.mean()), "std": float(vals.std(ddof=1)), "p50": float(np.quantile(vals, 0.5)),
                "p95": float(np.quantile(vals, 0.95)), "p99": float(np.quantile(vals, 0.99)), "max": float(vals.max()),
                "draws": BAND_DRAWS, "nearestOtherBreed": nearest, "nearestOtherMedian": cross[nearest]["median"],
                "wrongBreedFloor": cross[floor_b]["p01"], "wrongBreedFloorBreed": floor_b, "crossDraws": CROSS_DRAWS,
                "otherBreeds": cross,
            }
        out[str(n)] = per
    return out


def validity_block(feats: np.ndarray, y: np.ndarray, names: list[str], sizes: list[int], seed: int) -> dict:
    """Per breed and feature: quantiles of the per-image value over every image of the class (the training data
    itself), and for each n the 0.5 % and 99.5 % quantiles of the median of n random images."""
    rng = np.random.default_rng(seed)
    out: dict = {"features": VALIDITY_FEATURES, "quantiles": QUANTILES, "perBreed": {}}
    for b, name in enumerate(names):
        fb = feats[y == b]
        entry: dict = {"n": int(len(fb))}
        draws = {n: np.argsort(rng.random((2000, len(fb))), axis=1)[:, :n] for n in sizes}  # 2000 draws without replacement
        for j, fn in enumerate(VALIDITY_FEATURES):
            v = fb[:, j]
            med = {}
            for n in sizes:
                ms = np.median(v[draws[n]], axis=1)
                med[str(n)] = [float(np.quantile(ms, 0.005)), float(np.quantile(ms, 0.995))]
            entry[fn] = {"q": [float(q) for q in np.quantile(v, QUANTILES)], "mean": float(v.mean()), "std": float(v.std(ddof=1)),
                         "setMedian995": med}
        out["perBreed"][name] = entry
    allv = feats
    out["all"] = {fn: [float(q) for q in np.quantile(allv[:, j], QUANTILES)] for j, fn in enumerate(VALIDITY_FEATURES)}
    return out


# ---------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--procedural", action="store_true", help="the procedural dataset of tinydit/dataset.py")
    src.add_argument("--images", help="a folder with one subfolder of images per breed")
    ap.add_argument("--id", default=None, help="dataset id (default for --procedural: "
                    "tinydit-procedural-<size>-v1, the id train.py's bundles name)")
    ap.add_argument("--size", type=int, default=32, help="image size the model generates (and the judge sees)")
    ap.add_argument("--breeds", default=None, help="comma-separated breed names in manifest order (default: the 13 TinyDiT classes)")
    ap.add_argument("--per-class", type=int, default=PROCEDURAL_PER_CLASS, help="--procedural: images per class")
    ap.add_argument("--max-per-class", type=int, default=None, help="--images: at most this many images per class (a seeded subset)")
    ap.add_argument("--data-seed", type=int, default=PROCEDURAL_SEED, help="--procedural: make_dataset seed")
    ap.add_argument("--split", default="0.5,0.25,0.25", help="train,ref,null fractions per class")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=0, help="split, initialisation, batches, augmentation and band draws")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--band-sizes", default=",".join(map(str, BAND_SIZES)))
    ap.add_argument("--allow-weak", action="store_true", help="exit 0 even when the yardstick is not usable (tests)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.time()
    timings: dict[str, float] = {}

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:6.1f}s] {msg}", flush=True)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    breeds = [b.strip() for b in a.breeds.split(",")] if a.breeds else None
    t0 = time.time()
    if a.procedural:
        u8, y, names, source = load_procedural(a.per_class, a.data_seed, a.size)
        if breeds is not None and breeds != names:
            raise SystemExit("--breeds: the procedural dataset has its own class list (tinydit/dataset.py BREEDS)")
        dataset_id = a.id or procedural_dataset(a.size)
    else:
        if not a.id:
            raise SystemExit("--images needs --id (e.g. oxford-pets-128-v1): the name bundles give in training.dataset")
        u8, y, names, source = load_folder(Path(a.images), a.size, breeds, a.max_per_class, a.seed)
        dataset_id = a.id
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", dataset_id):
        raise SystemExit(f"--id '{dataset_id}': use lowercase letters, digits, '.' and '-'")
    timings["data"] = time.time() - t0
    k = len(names)
    log(f"{dataset_id}: {len(u8)} images, {k} classes, {a.size} px ({timings['data']:.1f}s)")
    fr = tuple(float(v) for v in a.split.split(","))
    parts = split(y, k, a.seed, fr)  # type: ignore[arg-type]
    log(f"split per class (seed {a.seed}): train {len(parts['train'])}, ref {len(parts['ref'])}, null {len(parts['null'])}")

    t0 = time.time()
    model, history = train_judge(u8[parts["train"]], y[parts["train"]], k, a.size, a.epochs, a.batch, a.lr, a.seed, log)
    timings["train"] = time.time() - t0
    # unit RMS features on the training images
    _, f_train = run_judge(model, u8[parts["train"]])
    rms = float(np.sqrt(np.mean(f_train.astype(np.float64) ** 2)))
    model.feature_scale.fill_(1.0 / rms)
    log(f"trained {count_params(model)} parameters in {timings['train']:.0f}s; feature RMS {rms:.4g} -> scale {1 / rms:.4g}")

    t0 = time.time()
    held = np.concatenate([parts["ref"], parts["null"]])
    logits_h, feats_h = run_judge(model, u8[held])
    acc = accuracy_block(logits_h, y[held], names)
    log(f"held-out accuracy {acc['overall']:.4f} ({acc['n']} images): " +
        ", ".join(f"{n} {v['accuracy']:.3f}" for n, v in acc["perBreed"].items()))
    _, f_ref = run_judge(model, u8[parts["ref"]])
    _, f_null = run_judge(model, u8[parts["null"]])
    ref_f = [f_ref[y[parts["ref"]] == b] for b in range(k)]
    null_f = [f_null[y[parts["null"]] == b] for b in range(k)]
    m_ref = min(len(r) for r in ref_f)
    m_null = min(len(r) for r in null_f)
    ref_arr = np.stack([r[:m_ref] for r in ref_f]).astype(np.float32)
    null_arr = np.stack([r[:m_null] for r in null_f]).astype(np.float32)
    sizes = [int(s) for s in a.band_sizes.split(",") if s.strip() and int(s) <= m_null // 2]
    band = bands([r for r in ref_arr], [r for r in null_arr], names, sizes, a.seed + 1)
    timings["bands"] = time.time() - t0
    for n in sizes:
        log(f"KID n={n}: null p99 / wrong-breed floor: " + ", ".join(f"{b} {v['p99']:.3f}/{v['wrongBreedFloor']:.2f}" for b, v in band[str(n)].items()))

    t0 = time.time()
    vfeat = validity_matrix(u8)
    validity = validity_block(vfeat, y, names, sizes, a.seed + 2)
    timings["validity"] = time.time() - t0

    # files
    t0 = time.time()
    judge_path = out / "judge.onnx"
    export_judge(model, judge_path, {"tinydit.yardstick": dataset_id, "tinydit.judge": "logits,features"})
    probe_idx = np.concatenate([parts["ref"][y[parts["ref"]] == b][:PROBES_PER_BREED] for b in range(k)])
    probe_u8 = u8[probe_idx]
    probe_logits, probe_feats = run_judge(model, probe_u8)
    node_logits, node_feats = node_outputs(judge_path, probe_u8)
    err_l = float(np.abs(node_logits - probe_logits).max())
    err_f = float(np.abs(node_feats - probe_feats).max())
    log(f"onnxruntime-node vs torch on {len(probe_u8)} probe images: logits max|diff| {err_l:.3g}, features {err_f:.3g}")
    if err_l > 1e-3 or err_f > 1e-3:
        raise SystemExit(f"the exported judge disagrees with PyTorch (logits {err_l:.3g}, features {err_f:.3g})")
    timings["export"] = time.time() - t0
    files = {
        "judge": "judge.onnx",
        "refFeatures": "ref_features.npy",
        "nullFeatures": "null_features.npy",
        "probeImages": "probe_images.npy",
        "probeLogits": "probe_logits.npy",
        "probeFeatures": "probe_features.npy",
        "probeValidity": "probe_validity.npy",
    }
    np.save(out / files["refFeatures"], ref_arr)
    np.save(out / files["nullFeatures"], null_arr)
    np.save(out / files["probeImages"], probe_u8)
    np.save(out / files["probeLogits"], node_logits.astype(np.float32))
    np.save(out / files["probeFeatures"], node_feats.astype(np.float32))
    np.save(out / files["probeValidity"], validity_matrix(probe_u8))
    # KID probes: the TypeScript KID must reproduce these from the stored features
    kid_probe = [{"breed": names[b], "n": 8, "nullRows": list(range(8)),
                  "kid": kid(null_arr[b, :8], ref_arr[b])} for b in range(min(k, 3))]
    timings["total"] = time.time() - t_start
    ys = {
        "format": FORMAT,
        "id": dataset_id,
        "breeds": names,
        "imageSize": a.size,
        "source": source,
        "judge": {
            "file": files["judge"], "input": {"name": JUDGE_INPUT, "shape": ["batch", 3, a.size, a.size], "dtype": "float32",
                                              "pixels": "u / 255 * 2 - 1 of the uint8 image (the manifest's toUint8 of a generated state)"},
            "outputs": {"logits": ["batch", k], "features": ["batch", model.feature_dim]},
            "parameters": count_params(model), "featureDim": model.feature_dim, "featureScale": 1.0 / rms,
            "architecture": f"{repr(model.body).count('Conv2d')} conv-BN-ReLU layers, average pooling to 4x4, global average "
                            "pool (the features, unit RMS on the training images), linear head (tinydit/judge.py Judge)",
            "onnxVsTorch": {"logitsMaxAbs": err_l, "featuresMaxAbs": err_f, "probes": int(len(probe_u8))},
        },
        "splits": {"seed": a.seed, "fractions": {"train": fr[0], "ref": fr[1], "null": fr[2]},
                   "perBreed": {names[b]: {"train": int((y[parts["train"]] == b).sum()), "ref": int((y[parts["ref"]] == b).sum()),
                                           "null": int((y[parts["null"]] == b).sum())} for b in range(k)},
                   "refFeaturesPerBreed": m_ref, "nullFeaturesPerBreed": m_null},
        "heldOutAccuracy": acc,
        "kid": {"kernel": "(x.y / d + 1)^3, d = feature dimension", "estimator": "unbiased MMD^2 (diagonals excluded)",
                "reference": f"{files['refFeatures']} [breed, {m_ref}, {model.feature_dim}]",
                "null": f"KID of n images drawn without replacement from the null split ({m_null} per breed) against the reference split; "
                        f"{BAND_DRAWS} draws per breed and n", "bands": band, "probes": kid_probe},
        "validity": validity,
        "files": {},
        "recipe": {
            "command": "/usr/bin/python3 reference/python/make_yardstick.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "seed": a.seed, "epochs": a.epochs, "batch": a.batch, "lr": a.lr, "optimizer": "AdamW (wd 5e-4), one-cycle",
            "loss": "cross-entropy, label smoothing 0.05",
            "augmentation": "shift +-2 px (replicate pad), horizontal flip, 3x3 binomial blur p=0.3, Gaussian noise sigma<=0.06 p=0.3; no colour changes",
            "threads": a.threads, "history": history, "seconds": {k_: round(v, 1) for k_, v in timings.items()},
            "torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    problems = quality_problems(acc, band, names)
    ys["quality"] = {"usable": not problems, "problems": problems,
                     "rule": f"held-out accuracy >= {MIN_HELD_OUT_ACCURACY} for every breed, and at every n >= 8 the wrong-breed "
                             "floor of every breed above its split-half p99 (else the judge cannot tell a wrong breed from sampling noise)"}
    for key, rel in files.items():
        ys["files"][key] = {"file": rel, "sha256": sha256(out / rel), "bytes": (out / rel).stat().st_size}
    (out / "yardstick.json").write_text(json.dumps(ys, indent=1))
    log(f"wrote {out}/yardstick.json (sha256 {sha256(out / 'yardstick.json')}); total {timings['total']:.0f}s")
    if problems:
        print("NOT USABLE as a gate yardstick:\n  " + "\n  ".join(problems) + "\n(more images per breed, more --epochs)", file=sys.stderr)
        return 0 if a.allow_weak else 3
    return 0


def quality_problems(acc: dict, band: dict, names: list[str]) -> list[str]:
    out = [f"{n}: held-out accuracy {v['accuracy']:.3f} < {MIN_HELD_OUT_ACCURACY}" for n, v in acc["perBreed"].items()
           if v["accuracy"] < MIN_HELD_OUT_ACCURACY]
    for n_, per in band.items():
        if int(n_) < 8:
            continue
        for b, v in per.items():
            if not v["wrongBreedFloor"] > v["p99"]:
                out.append(f"{b}, n={n_}: wrong-breed floor {v['wrongBreedFloor']:.3f} <= split-half p99 {v['p99']:.3f}")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
