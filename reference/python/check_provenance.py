"""Provenance check: the bundle's goldens must follow from its checkpoint.

Re-derives from the checkpoint, and compares with what the bundle ships, part by part:

  checkpoint         the checkpoint loads, passes the sanity checks, and its sha256, step and config are the
                     manifest's identity.checkpoint / identity.config
  velocity           every velocity case of every float variant (guided, raw) recomputed in PyTorch vs the
                     committed goldens/velocity/<variant>.npy, under manifest tolerance.velocity
  export             the guided and raw graphs re-exported from the checkpoint, run with onnxruntime-node on
                     the golden velocity inputs, vs the committed goldens (tolerance.velocity)
  onnx-agreement     the shipped guided and raw ONNX files vs the re-exported ones on the same inputs
                     (tolerance.velocity); byte identity is reported, not required
  trajectory         every golden trajectory (all seeds and breeds of goldens/index.json), one batch per seed
                     (the batch the goldens were made with), every step, under tolerance.trajectory
  stats              a sample of the statistics images: the first STATS_SAMPLE_SEEDS seeds x every breed,
                     regenerated in one batch; at most STATS_MAX_LEVELS level apart from the committed ones
  quantized-profile  tolerance.quantized.measured recomputed the way goldens.py measured it (the shipped
                     quantized ONNX vs the float goldens: velocity relative L2 per case, mean |pixel diff| of
                     its final images via the TypeScript sampler) and within QUANT_REL_TOL of the manifest;
                     the thresholds must be measured x margin
  noise-floor        the float32-vs-float64 noise floors recomputed (velocity per variant, trajectories per
                     step); the rule is at FLOOR_RATIO_MAX

    /usr/bin/python3 reference/python/check_provenance.py --bundle fixtures/default
    /usr/bin/python3 reference/python/check_provenance.py --bundle B --records reports/run/checks.jsonl
    /usr/bin/python3 reference/python/check_provenance.py --bundle B --parts velocity,trajectory

--records appends one JSON line per case group to a checks.jsonl in the gate's record format
(harness/core/record-check.ts CheckRecord; check family 'provenance', runtime 'python'). A part that cannot run (a
missing file, an exception) is an 'error' record naming the file and the fix, never a pass. Exits 1 when
any record is not 'pass'.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import datetime as _dt
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.case_id import case_id, non_canonical  # noqa: E402  (after the path insert)

CHECK = "provenance"
RUNTIME = "python"
PARTS = ["checkpoint", "velocity", "export", "onnx-agreement", "trajectory", "stats", "quantized-profile", "noise-floor"]
FLOAT_VARIANTS = ["guided", "raw"]
REGENERATE = "regenerate the bundle from its checkpoint with reference/python/make_bundle.py"
# Statistics images regenerated: the first 2 seeds of goldens/index.json stats.seeds x every breed (26 of 416
# images for the default bundle, ~5 s on 2 cores). A value on a rounding boundary may flip by one level between
# batch compositions; more is a different image.
STATS_SAMPLE_SEEDS = 2
STATS_MAX_LEVELS = 1
# The quantized profile is a measurement of onnxruntime-node's uint8 kernels: deterministic on one machine, but
# the integer kernels differ between CPUs. Measured: the default bundle's profile (made on another machine, same
# onnxruntime-node 1.30.0) recomputed here is 0.2-0.3% off on the velocity metrics and 1.6% (max) / 9.6% (median,
# a few single-level pixel flips over 50 steps) off on the image metrics. Limits: 5% on the velocity metrics, 20%
# on the image metrics; a profile measured on another quantization or model, or edited by hand (e.g. doubled to
# loosen the thresholds) is off by far more.
QUANT_REL_TOL = {"velocityRelL2Max": 0.05, "velocityRelL2Median": 0.05, "imageMeanAbsMax": 0.20, "imageMeanAbsMedian": 0.20}
# The thresholds of the quantized profile are measured x margin, exactly (float rounding aside).
QUANT_MARGIN_REL_TOL = 1e-6
# Noise floors, the rule: with c a committed floor and r the recomputed one (the same inputs, the same batches as
# goldens.py), per set (the velocity floors of one variant; all trajectory step floors)
#   - the median of c / r must lie in [1/FLOOR_RATIO_MAX, FLOOR_RATIO_MAX] = [1/2, 2] (floors inflated or deflated
#     as a whole, floors of another model or another sampler), and
#   - every single c / r must lie in [1/FLOOR_CASE_RATIO_MAX, FLOOR_CASE_RATIO_MAX] = [1/4, 4] (one floor edited).
# Cases where both are exactly 0 (step 0 of a trajectory: the input noise itself) are not judged. Why a case may
# move 2x: a floor is the max over every element of |float32 - float64|, ulp-level rounding that changes with the
# CPU and thread count. Measured on the default bundle (made on another machine): per case c / r from 0.55 to 1.67
# (velocity; 0.66 to 1.75 with 1 thread) and 0.46 to 1.98 (trajectory steps), median 1.00 in every set.
FLOOR_RATIO_MAX = 2.0
FLOOR_CASE_RATIO_MAX = 4.0


class PartError(Exception):
    """A part could not run; the message names the file and the fix."""


# ---------------------------------------------------------------------------------------------------------
# Records


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(v: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite numbers to strings (as harness/core/record-check.ts writes them)."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


RECORD_ORIGIN_ENV = "TINYDIT_RECORD_ORIGIN"


def record_origin() -> dict | None:
    """The test that started this checker (env TINYDIT_RECORD_ORIGIN, JSON, set by suites/node/provenance.test.ts):
    every record names it, as the TypeScript suites' records do, so the gate finds the test without guessing. A null
    title means one test per record, titled by the record's case id."""
    raw = os.environ.get(RECORD_ORIGIN_ENV, "").strip()
    if not raw:
        return None
    try:
        origin = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"env {RECORD_ORIGIN_ENV}: not JSON ({e})") from e
    if (not isinstance(origin, dict) or not all(isinstance(origin.get(k), str) for k in ("runner", "file"))
            or not isinstance(origin.get("title"), (str, type(None)))):
        raise ValueError(f"env {RECORD_ORIGIN_ENV}: expected an object with runner, file and title (null: each record's "
                         f"test is titled by its case id), got {raw[:200]}")
    return origin


class Recorder:
    def __init__(self, path: Path | None):
        self.path = path
        self.records: list[dict] = []
        self.origin = record_origin()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, id_: str, status: str, metrics: dict, threshold: dict | None = None, message: str = "") -> dict:
        wrong = non_canonical(id_)
        if wrong:
            raise ValueError(f"check record {id_}: {wrong} (reference/python/tinydit/case_id.py)")
        rec = {"id": id_, "check": CHECK, "runtime": RUNTIME, "status": status, "metrics": _clean(metrics),
               "threshold": _clean(threshold or {}), "message": message, "artifacts": [], "time": _now()}
        if self.origin is not None:
            rec["test"] = {**self.origin, "title": self.origin["title"] if self.origin["title"] is not None else id_}
        self.records.append(rec)
        print(f"{status.upper():5} {id_}: {message}", flush=True)
        if self.path is not None:
            # one write per line on an O_APPEND descriptor: other processes append to the same file
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(rec) + "\n").encode())
            finally:
                os.close(fd)
        return rec


# ---------------------------------------------------------------------------------------------------------
# The bundle and what is derived from its checkpoint (computed once, shared by the parts)


def _need(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise PartError(f"{path}: missing ({what}); {fix}")
    return path


class Context:
    def __init__(self, bundle: Path, checkpoint: str | None, pool: cf.ThreadPoolExecutor):
        self.bundle = bundle
        self.checkpoint_arg = checkpoint
        self.pool = pool
        self.tmp = Path(tempfile.mkdtemp(prefix="provenance-"))
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """Computes once; an exception is cached too, so every part that needs it reports the same cause."""
        if key not in self._cache:
            try:
                self._cache[key] = ("ok", fn())
            except Exception as e:  # noqa: BLE001
                self._cache[key] = ("err", e)
        kind, v = self._cache[key]
        if kind == "err":
            raise v
        return v

    # --- files
    @property
    def manifest(self) -> dict:
        def load():
            p = _need(self.bundle / "manifest.json", "the bundle's manifest", "point --bundle at a bundle folder "
                      "(reference/python/make_bundle.py writes one)")
            return json.loads(p.read_text())
        return self.cached("manifest", load)

    @property
    def index(self) -> dict:
        def load():
            p = _need(self.bundle / "goldens" / "index.json", "the goldens index",
                      f"a bundle without goldens has nothing to prove; {REGENERATE}")
            return json.loads(p.read_text())
        return self.cached("index", load)

    def golden(self, rel: str) -> np.ndarray:
        p = _need(self.bundle / "goldens" / rel, "named in goldens/index.json", REGENERATE)
        try:
            return np.load(p)
        except Exception as e:  # noqa: BLE001
            raise PartError(f"{p}: not a readable .npy ({type(e).__name__}: {e}); {REGENERATE}") from e

    @property
    def checkpoint_path(self) -> Path:
        if self.checkpoint_arg:
            return Path(self.checkpoint_arg)
        name = self.manifest["identity"]["checkpoint"].get("file")
        if not name:
            raise PartError(f"{self.bundle / 'manifest.json'}: identity.checkpoint.file is null: the bundle ships no "
                            "checkpoint, so its goldens cannot be re-derived; ship the checkpoint in the bundle "
                            "(make_bundle.py --out <the checkpoint's folder>) or pass --checkpoint <file.pt>")
        return self.bundle / name

    @property
    def ck(self):
        def load():
            import torch
            from tinydit.checkpoint import CheckpointError, load_checkpoint
            torch.set_num_threads(2)
            path = self.checkpoint_path
            if not path.is_file():
                raise PartError(f"{path}: missing (manifest identity.checkpoint.file); ship the checkpoint the bundle "
                                "was made from, or pass --checkpoint <file.pt>")
            try:
                return load_checkpoint(path, weights=self.manifest["identity"]["checkpoint"].get("weights", "ema"))
            except CheckpointError as e:
                raise PartError(f"cannot load the checkpoint: {e}") from e
        return self.cached("ck", load)

    @property
    def m64(self):
        return self.cached("m64", lambda: copy.deepcopy(self.ck.model).double())

    @property
    def scale(self) -> float:
        return float(self.manifest["guidance"]["scale"])

    @property
    def null(self) -> int:
        return int(self.manifest["guidance"]["nullIndex"])

    def variant_file(self, variant: str) -> Path:
        v = self.manifest["variants"].get(variant)
        if v is None:
            raise PartError(f"{self.bundle / 'manifest.json'}: variants.{variant} is missing; {REGENERATE}")
        return _need(self.bundle / v["file"], f"variant '{variant}' of the manifest", REGENERATE)

    # --- velocity
    @property
    def vel_inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def load():
            inp = self.index["velocity"]["inputs"]
            return self.golden(inp["noise"]), self.golden(inp["timestep"]), self.golden(inp["breed"])
        return self.cached("vel_inputs", load)

    @property
    def vel_labels(self) -> list[str]:
        return [c["id"] for c in self.index["velocity"]["cases"]]

    def torch_velocity(self, variant: str, double: bool = False) -> np.ndarray:
        def run():
            import torch
            x, t, b = self.vel_inputs
            m = self.m64 if double else self.ck.model
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            if double:
                xt, tt = xt.double(), tt.double()
            with torch.no_grad():
                if variant == "guided":
                    out = m.forward_with_cfg(xt, tt, torch.from_numpy(b), self.scale, self.null)
                elif variant == "raw":
                    out = m(xt, tt, torch.from_numpy(b))
                else:
                    raise PartError(f"variant '{variant}' has no PyTorch counterpart (guided and raw do)")
            return out.numpy()
        return self.cached(f"torch_velocity:{variant}:{double}", run)

    # --- ONNX (onnxruntime-node runs in a background thread while PyTorch works)
    def reexport(self, variant: str) -> Path:
        def run():
            from tinydit.export import export_onnx
            ck = self.ck
            meta = {"tinydit.config": ck.config.name, "tinydit.step": str(ck.step), "tinydit.weights": ck.weights,
                    "tinydit.null_index": str(self.null),
                    "tinydit.guidance": f"baked:{self.scale}" if variant == "guided" else "none"}
            path = self.tmp / f"reexport_{variant}.onnx"
            export_onnx(ck.model, path, variant == "guided", self.scale, self.null, meta)
            return path
        return self.cached(f"reexport:{variant}", run)

    def ort_future(self, key: str, path_fn: Callable[[], Path]) -> cf.Future:
        def submit():
            from tinydit.export import run_onnx_node
            path = path_fn()
            x, t, b = self.vel_inputs
            return self.pool.submit(run_onnx_node, path, x, t, b)
        return self.cached(f"ort:{key}", submit)

    def ort_velocity(self, key: str, path_fn: Callable[[], Path]) -> np.ndarray:
        try:
            return self.ort_future(key, path_fn).result()
        except RuntimeError as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            short = " ".join(lines[:1] + [ln for ln in lines[1:] if "Error" in ln][:2])
            raise PartError(f"{short}; fix: a corrupt or foreign ONNX file: {REGENERATE}; onnxruntime-node missing: "
                            "`npm ci` in the repository root") from e

    def quant_images_future(self) -> cf.Future:
        def submit():
            from tinydit.goldens import _node_sample
            path = self.variant_file("quantized")
            guidance = self.manifest["variants"]["quantized"].get("guidance", "baked")
            cases = self.index["trajectories"]["cases"]
            size = int(self.manifest["identity"]["config"]["image_size"])
            steps = int(self.index["trajectories"]["steps"])
            return self.pool.submit(_node_sample, path, guidance, size, self.null, [c["breed"] for c in cases],
                                    [c["seed"] for c in cases], steps)
        return self.cached("quant_images", submit)

    # --- trajectories, one batch per seed (the batch goldens.py made them with)
    def seeds(self) -> list[int]:
        out: list[int] = []
        for c in self.index["trajectories"]["cases"]:
            if c["seed"] not in out:
                out.append(c["seed"])
        return out

    def trajectory(self, seed: int, double: bool = False) -> tuple[list[dict], np.ndarray]:
        def run():
            import torch
            from tinydit.noise import seeded_noise
            from tinydit.sampler import sample
            traj = self.index["trajectories"]
            cases = [c for c in traj["cases"] if c["seed"] == seed]
            n = self.ck.config.image_size
            x0 = torch.from_numpy(np.stack([seeded_noise(seed, (3, n, n))] * len(cases)))
            m = self.m64 if double else self.ck.model
            if double:
                x0 = x0.double()
            _, tr = sample(m, x0, torch.tensor([c["breed"] for c in cases]), int(traj["steps"]), float(traj["cfgScale"]),
                           self.null, keep_trajectory=True)
            return cases, torch.stack(tr).numpy()  # [steps+1, B, 3, H, W]
        return self.cached(f"trajectory:{seed}:{double}", run)

    def close(self) -> None:
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# Comparisons


def compare_cases(got: np.ndarray, want: np.ndarray, floors: np.ndarray, policy: dict, labels: list[str]) -> dict:
    """Per case (first axis): max|got - want| against max(floorMultiple * floor, absMin)."""
    from tinydit.tolerance import tolerance_for
    if got.shape != want.shape:
        raise PartError(f"shape {list(want.shape)} committed, {list(got.shape)} regenerated: the golden was made for "
                        f"another model or case list; {REGENERATE}")
    if len(floors) != len(want):
        raise PartError(f"{len(floors)} noise floors for {len(want)} cases; {REGENERATE}")
    worst, worst_k, worst_err, worst_tol, failed = -1.0, 0, 0.0, 0.0, []
    for k in range(len(want)):
        err = float(np.abs(got[k].astype(np.float64) - want[k].astype(np.float64)).max())
        tol = tolerance_for(float(floors[k]), policy)
        ratio = err / tol if math.isfinite(err) else math.inf
        if ratio > worst or not math.isfinite(ratio):
            worst, worst_k, worst_err, worst_tol = ratio, k, err, tol
        if not err <= tol:
            failed.append(f"{labels[k]}: max|regenerated - committed| = {err:.3g} > {tol:.3g}")
    return {"cases": len(want), "failed": failed, "worstRatio": worst, "worstCase": labels[worst_k],
            "maxAbs": worst_err, "worstTolerance": worst_tol}


def _threshold(policy: dict) -> dict:
    return {"floorMultiple": policy["floorMultiple"], "absMin": policy["absMin"]}


def _fail_message(what: str, r: dict, fix: str = f"the goldens do not follow from the checkpoint; {REGENERATE}") -> str:
    shown = "; ".join(r["failed"][:4]) + (f"; ... and {len(r['failed']) - 4} more" if len(r["failed"]) > 4 else "")
    return f"{what}: {len(r['failed'])} of {r['cases']} case(s) out of tolerance: {shown}; {fix}"


# ---------------------------------------------------------------------------------------------------------
# The parts: each returns a list of (id, status, metrics, threshold, message)

Rec = tuple[str, str, dict, dict, str]


def _ema_is_raw(ck) -> bool:
    """Every tensor of ema_params equals model_state_dict's: after any training step an EMA differs from the raw weights."""
    import torch
    ema, raw = ck.raw["ema_params"], ck.raw["model_state_dict"]
    return set(ema) == set(raw) and all(torch.equal(ema[k], raw[k]) for k in ema)


def part_checkpoint(ctx: Context) -> list[Rec]:
    from tinydit.checkpoint import sanity_problems
    from tinydit.goldens import sha256
    rid = case_id("provenance", part="checkpoint")
    ident = ctx.manifest["identity"]
    path = ctx.checkpoint_path
    ck = ctx.ck
    problems = list(sanity_problems(ck))
    got_sha = sha256(path)
    want_sha = ident["checkpoint"].get("sha256")
    if got_sha != want_sha:
        problems.append(f"{path}: sha256 {got_sha[:12]}... differs from manifest identity.checkpoint.sha256 "
                        f"{str(want_sha)[:12]}...: the goldens were made from another checkpoint; {REGENERATE}")
    if ident["checkpoint"].get("step") is not None and ident["checkpoint"]["step"] != ck.step:
        problems.append(f"{path}: step {ck.step}, manifest identity.checkpoint.step {ident['checkpoint']['step']}")
    ema_is_raw = _ema_is_raw(ck)
    if ema_is_raw and ctx.manifest.get("trained", True) and ck.step > 0:
        problems.append(f"{path}: ema_params are identical to model_state_dict at step {ck.step}: the EMA never reached "
                        "the weights that ship (raw weights saved as EMA); export the checkpoint of a run that applies "
                        "its EMA, never a copy of the raw weights")
    # an absent prediction is the velocity head (model.py TinyDiTConfig.prediction)
    cfg = {"prediction": "velocity", **ck.config.to_dict()}
    ident_cfg = {"prediction": "velocity", **ident["config"]}
    diff = sorted(k for k in set(cfg) | set(ident_cfg) if cfg.get(k) != ident_cfg.get(k))
    if diff:
        problems.append(f"{path}: config differs from manifest identity.config in {', '.join(diff)}")
    metrics = {"shaMatches": got_sha == want_sha, "sha256": got_sha, "step": ck.step, "weights": ck.weights,
               "emaIsRaw": ema_is_raw, "problems": len(problems), "file": str(path)}
    if problems:
        return [(rid, "fail", metrics, {"sha256": want_sha}, "; ".join(problems))]
    return [(rid, "pass", metrics, {"sha256": want_sha},
             f"{path.name}: sha256 is the manifest's, step {ck.step}, {ck.weights} weights, sane")]


def _float_variants(ctx: Context) -> list[str]:
    """The float variants with velocity goldens (guided, raw): the ones PyTorch can recompute."""
    exp = ctx.index["velocity"]["expected"]
    return [v for v in FLOAT_VARIANTS if v in exp]


def part_velocity(ctx: Context) -> list[Rec]:
    out = []
    vel = ctx.index["velocity"]
    policy = ctx.manifest["tolerance"]["velocity"]
    for variant in _float_variants(ctx):
        rid = case_id("provenance", part="velocity", variant=variant)
        out.append(_guard(rid, lambda variant=variant, rid=rid: _velocity_one(ctx, variant, rid, vel, policy)))
    return out


def _velocity_one(ctx: Context, variant: str, rid: str, vel: dict, policy: dict) -> Rec:
    want = ctx.golden(vel["expected"][variant])
    floors = ctx.golden(vel["noiseFloor"][variant])
    r = compare_cases(ctx.torch_velocity(variant), want, floors, policy, ctx.vel_labels)
    m = {k: v for k, v in r.items() if k != "failed"} | {"failedCases": len(r["failed"]), "variant": variant}
    what = f"goldens/{vel['expected'][variant]} regenerated in PyTorch"
    if r["failed"]:
        return (rid, "fail", m, _threshold(policy), _fail_message(what, r))
    return (rid, "pass", m, _threshold(policy),
            f"{what}: {r['cases']} cases follow from the checkpoint, worst {r['worstRatio']:.3f} of its tolerance")


def part_export(ctx: Context) -> list[Rec]:
    out = []
    vel = ctx.index["velocity"]
    policy = ctx.manifest["tolerance"]["velocity"]
    for variant in _float_variants(ctx):
        rid = case_id("provenance", part="export", variant=variant)

        def one(variant=variant, rid=rid) -> Rec:
            from tinydit.goldens import sha256
            want = ctx.golden(vel["expected"][variant])
            floors = ctx.golden(vel["noiseFloor"][variant])
            path = ctx.reexport(variant)
            got = ctx.ort_velocity(f"reexport:{variant}", lambda: path)
            r = compare_cases(got, want, floors, policy, ctx.vel_labels)
            same = sha256(path) == ctx.manifest["variants"].get(variant, {}).get("sha256")
            m = {k: v for k, v in r.items() if k != "failed"} | {"failedCases": len(r["failed"]), "variant": variant,
                                                                  "byteIdenticalToManifest": same}
            what = f"{variant} re-exported from the checkpoint (onnxruntime-node) vs goldens/{vel['expected'][variant]}"
            if r["failed"]:
                return (rid, "fail", m, _threshold(policy), _fail_message(what, r))
            return (rid, "pass", m, _threshold(policy), f"{what}: {r['cases']} cases, worst {r['worstRatio']:.3f} of "
                    f"its tolerance; the re-export {'has' if same else 'does not have'} the sha256 the manifest pins for {variant}")
        out.append(_guard(rid, one))
    return out


def part_onnx_agreement(ctx: Context) -> list[Rec]:
    out = []
    vel = ctx.index["velocity"]
    policy = ctx.manifest["tolerance"]["velocity"]
    for variant in _float_variants(ctx):
        rid = case_id("provenance", part="onnx-agreement", variant=variant)

        def one(variant=variant, rid=rid) -> Rec:
            from tinydit.goldens import sha256
            shipped = ctx.variant_file(variant)
            floors = ctx.golden(vel["noiseFloor"][variant])
            got = ctx.ort_velocity(f"shipped:{variant}", lambda: shipped)
            ref = ctx.ort_velocity(f"reexport:{variant}", lambda: ctx.reexport(variant))
            r = compare_cases(got, ref, floors, policy, ctx.vel_labels)
            vs_golden = compare_cases(got, ctx.golden(vel["expected"][variant]), floors, policy, ctx.vel_labels)
            sha_ok = sha256(shipped) == ctx.manifest["variants"][variant].get("sha256")
            m = {k: v for k, v in r.items() if k != "failed"} | {
                "failedCases": len(r["failed"]), "variant": variant, "shippedShaMatchesManifest": sha_ok,
                "shippedVsGoldensWorstRatio": vs_golden["worstRatio"]}
            what = f"shipped {shipped.name} vs the {variant} graph re-exported from the checkpoint (onnxruntime-node)"
            if r["failed"]:
                return (rid, "fail", m, _threshold(policy), _fail_message(
                    what, r, f"the shipped ONNX was not exported from this checkpoint; {REGENERATE}"))
            return (rid, "pass", m, _threshold(policy),
                    f"{what}: {r['cases']} cases agree, worst {r['worstRatio']:.3f} of the tolerance")
        out.append(_guard(rid, one))
    return out


def part_trajectory(ctx: Context) -> list[Rec]:
    out = []
    policy = ctx.manifest["tolerance"]["trajectory"]
    for seed in ctx.seeds():
        rid = case_id("provenance", part="trajectory", seed=seed)

        def one(seed=seed, rid=rid) -> Rec:
            floor_rows = ctx.golden(ctx.index["trajectories"]["floor"])
            cases, got = ctx.trajectory(seed)
            worst = {"worstRatio": -1.0}
            failed: list[str] = []
            steps = 0
            for k, c in enumerate(cases):
                want = ctx.golden(c["file"])
                steps = len(want) - 1
                r = compare_cases(got[:, k], want, floor_rows[c["floorRow"]], policy,
                                  [f"goldens/{c['file']} step={s}" for s in range(len(want))])
                failed += r["failed"]
                if r["worstRatio"] > worst["worstRatio"]:
                    worst = {"worstRatio": r["worstRatio"], "worstCase": r["worstCase"], "maxAbs": r["maxAbs"],
                             "worstTolerance": r["worstTolerance"]}
            m = {"cases": len(cases), "steps": steps, "failedSteps": len(failed), "seed": seed} | worst
            if failed:
                return (rid, "fail", m, _threshold(policy), _fail_message(
                    f"seed {seed}: {len(cases)} trajectories regenerated in PyTorch",
                    {"failed": failed, "cases": len(cases) * (steps + 1)}))
            return (rid, "pass", m, _threshold(policy), f"seed {seed}: {len(cases)} trajectories x {steps + 1} states "
                    f"follow from the checkpoint, worst {worst['worstRatio']:.3f} of its tolerance")
        out.append(_guard(rid, one))
    return out


def part_stats(ctx: Context) -> list[Rec]:
    import torch
    from tinydit.noise import seeded_noise
    from tinydit.sampler import sample, to_image_uint8
    rid = case_id("provenance", part="stats")
    stats = ctx.index["stats"]
    ref = ctx.golden(stats["images"])
    seeds = stats["seeds"][:STATS_SAMPLE_SEEDS]
    nb = ref.shape[0]
    n = ctx.ck.config.image_size
    pairs = [(b, k) for b in range(nb) for k in range(len(seeds))]
    x0 = torch.from_numpy(np.stack([seeded_noise(seeds[k], (3, n, n)) for _, k in pairs]))
    xf, _ = sample(ctx.ck.model, x0, torch.tensor([b for b, _ in pairs]), int(stats["steps"]), float(stats["cfgScale"]),
                   ctx.null)
    worst, over = 0, []
    for i, (b, k) in enumerate(pairs):
        diff = int(np.abs(to_image_uint8(xf[i].numpy()).astype(int) - ref[b, k].astype(int)).max())
        worst = max(worst, diff)
        if diff > STATS_MAX_LEVELS:
            over.append(f"breed {b} seed {seeds[k]}: {diff} levels")
    m = {"images": len(pairs), "breeds": nb, "seeds": len(seeds), "of": int(ref.shape[0] * ref.shape[1]),
         "maxLevels": worst, "imagesOver": len(over)}
    th = {"maxLevels": STATS_MAX_LEVELS, "sample": f"first {STATS_SAMPLE_SEEDS} seeds x every breed"}
    if over:
        return [(rid, "fail", m, th, f"goldens/{stats['images']}: {len(over)} of {len(pairs)} sampled images differ "
                 f"from the checkpoint's by more than {STATS_MAX_LEVELS} level: {'; '.join(over[:4])}; {REGENERATE}")]
    return [(rid, "pass", m, th, f"goldens/{stats['images']}: {len(pairs)} sampled images ({nb} breeds x seeds "
             f"{seeds}) regenerated, at most {worst} level apart")]


def compare_quant_profile(recomputed: dict, q: dict) -> tuple[list[str], float, dict]:
    """The manifest's tolerance.quantized against a recomputed profile: each measured number within QUANT_REL_TOL
    of the recomputed one, and each threshold = measured x margin. Returns (problems, worst relative diff, metrics)."""
    measured = q.get("measured") or {}
    problems, worst = [], 0.0
    metrics: dict[str, Any] = {}
    for key, val in recomputed.items():
        committed = measured.get(key)
        metrics[f"recomputed.{key}"] = val
        metrics[f"committed.{key}"] = committed
        if not isinstance(committed, (int, float)):
            problems.append(f"tolerance.quantized.measured.{key} is missing")
            continue
        if key == "imageCases":
            if committed != val:
                problems.append(f"measured.imageCases {committed}, the goldens have {val}")
            continue
        d = abs(val - committed) / max(abs(committed), 1e-12)
        worst = max(worst, d)
        metrics[f"relDiff.{key}"] = d
        if not d <= QUANT_REL_TOL[key]:
            problems.append(f"measured.{key} = {committed:.4g}, recomputed {val:.4g} ({100 * d:.1f}% apart, limit "
                            f"{100 * QUANT_REL_TOL[key]:g}%)")
    margin = q.get("margin")
    for key in ("velocityRelL2Max", "imageMeanAbsMax"):
        thr, meas = q.get(key), measured.get(key)
        if not all(isinstance(v, (int, float)) for v in (thr, meas, margin)):
            problems.append(f"tolerance.quantized.{key}, .margin or .measured.{key} is missing")
        elif abs(thr - meas * margin) > QUANT_MARGIN_REL_TOL * max(abs(thr), 1e-12):
            problems.append(f"tolerance.quantized.{key} = {thr:.4g} is not measured x margin = {meas * margin:.4g}")
    metrics |= {"worstRelDiff": worst, "margin": margin}
    return problems, worst, metrics


def part_quantized_profile(ctx: Context) -> list[Rec]:
    from PIL import Image
    from tinydit.sampler import to_image_uint8
    rid = case_id("provenance", part="quantized-profile")
    q = ctx.manifest.get("tolerance", {}).get("quantized")
    if "quantized" not in ctx.manifest["variants"]:
        return [(rid, "pass", {"applicable": False}, {}, "the manifest has no quantized variant: no profile to reproduce")]
    if not q or not isinstance(q.get("measured"), dict):
        raise PartError(f"{ctx.bundle / 'manifest.json'}: tolerance.quantized.measured is missing: the quantized "
                        f"variant's thresholds cannot be traced to a measurement; {REGENERATE}")
    vel = ctx.index["velocity"]
    expected_for = vel.get("expectedFor", {}).get("quantized", "guided")
    ref = ctx.golden(vel["expected"][expected_for]).astype(np.float64)
    got = ctx.ort_velocity("shipped:quantized", lambda: ctx.variant_file("quantized")).astype(np.float64)
    n = len(ref)
    rel = np.linalg.norm((got - ref).reshape(n, -1), axis=1) / np.maximum(np.linalg.norm(ref.reshape(n, -1), axis=1), 1e-12)
    try:
        xq = ctx.quant_images_future().result()
    except RuntimeError as e:
        raise PartError(f"{e}\nfix: `npm ci` in the repository root (tsx, onnxruntime-node)") from e
    img_err = []
    for k, c in enumerate(ctx.index["trajectories"]["cases"]):
        p = _need(ctx.bundle / "goldens" / c["image"], "a golden image named in goldens/index.json", REGENERATE)
        golden = np.asarray(Image.open(p).convert("RGB"), dtype=np.float64)
        img_err.append(float(np.abs(to_image_uint8(xq[k]).astype(np.float64) - golden).mean()))
    recomputed = {"velocityRelL2Max": float(rel.max()), "velocityRelL2Median": float(np.median(rel)),
                  "imageMeanAbsMax": float(max(img_err)), "imageMeanAbsMedian": float(np.median(img_err)),
                  "imageCases": len(img_err)}
    problems, worst, metrics = compare_quant_profile(recomputed, q)
    th = {f"relTol.{k}": v for k, v in QUANT_REL_TOL.items()} | {"marginRelTol": QUANT_MARGIN_REL_TOL}
    if problems:
        return [(rid, "fail", metrics, th, f"{ctx.bundle / 'manifest.json'} tolerance.quantized does not reproduce from "
                 f"{ctx.variant_file('quantized').name} and the float goldens: {'; '.join(problems)}; {REGENERATE}")]
    return [(rid, "pass", metrics, th, f"tolerance.quantized.measured reproduced (worst {100 * worst:.1f}% apart) "
             f"(velocity rel-L2 max {recomputed['velocityRelL2Max']:.4g}, image mean|diff| max "
             f"{recomputed['imageMeanAbsMax']:.4g} levels, {len(img_err)} images); thresholds = measured x {metrics['margin']}")]


def floor_ratios(committed: np.ndarray, recomputed: np.ndarray, labels: list[str]) -> dict:
    """The noise-floor rule (FLOOR_RATIO_MAX, FLOOR_CASE_RATIO_MAX): median and per-case committed/recomputed."""
    c = np.asarray(committed, np.float64).ravel()
    r = np.asarray(recomputed, np.float64).ravel()
    if c.shape != r.shape:
        raise PartError(f"{len(c)} committed floors, {len(r)} recomputed; {REGENERATE}")
    judged = (c != 0) | (r != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(r > 0, c / np.where(r > 0, r, 1.0), np.inf)
    ratio = np.where(np.isfinite(c), ratio, np.inf)
    bad = judged & ~((ratio >= 1 / FLOOR_CASE_RATIO_MAX) & (ratio <= FLOOR_CASE_RATIO_MAX))
    jr = ratio[judged]
    median = float(np.median(jr)) if len(jr) else 1.0
    failed = [f"{labels[i]}: committed {c[i]:.3g}, recomputed {r[i]:.3g} (x{ratio[i]:.3g}, outside "
              f"[1/{FLOOR_CASE_RATIO_MAX:g}, {FLOOR_CASE_RATIO_MAX:g}])" for i in np.flatnonzero(bad)]
    if not (1 / FLOOR_RATIO_MAX <= median <= FLOOR_RATIO_MAX):
        failed.insert(0, f"median committed/recomputed x{median:.3g}, outside [1/{FLOOR_RATIO_MAX:g}, {FLOOR_RATIO_MAX:g}]")
    return {"cases": int(len(c)), "judged": int(judged.sum()), "failed": failed,
            "ratioMin": float(jr.min()) if len(jr) else None, "ratioMax": float(jr.max()) if len(jr) else None,
            "ratioMedian": median}


def _floor_threshold() -> dict:
    return {"medianRatioMin": 1 / FLOOR_RATIO_MAX, "medianRatioMax": FLOOR_RATIO_MAX,
            "caseRatioMin": 1 / FLOOR_CASE_RATIO_MAX, "caseRatioMax": FLOOR_CASE_RATIO_MAX}


def part_noise_floor(ctx: Context) -> list[Rec]:
    out = []
    vel = ctx.index["velocity"]
    for variant in _float_variants(ctx):
        rid = case_id("provenance", part="noise-floor", variant=variant)

        def one(variant=variant, rid=rid) -> Rec:
            r32 = ctx.torch_velocity(variant).astype(np.float64)
            r64 = ctx.torch_velocity(variant, double=True)
            rec = np.abs(r32 - r64).reshape(len(r32), -1).max(axis=1)
            return _floor_rec(rid, f"goldens/{vel['noiseFloor'][variant]}", ctx.golden(vel["noiseFloor"][variant]), rec,
                              ctx.vel_labels, {"variant": variant})
        out.append(_guard(rid, one))
    rid = case_id("provenance", part="noise-floor", set="trajectory")

    def traj() -> Rec:
        t = ctx.index["trajectories"]
        committed = ctx.golden(t["floor"])
        rec = np.full(committed.shape, np.nan)
        labels = [""] * committed.size
        for seed in ctx.seeds():
            cases, a32 = ctx.trajectory(seed)
            _, a64 = ctx.trajectory(seed, double=True)
            for k, c in enumerate(cases):
                row = c["floorRow"]
                rec[row] = np.abs(a32[:, k].astype(np.float64) - a64[:, k]).reshape(a32.shape[0], -1).max(axis=1)
                for s in range(committed.shape[1]):
                    labels[row * committed.shape[1] + s] = f"{c['id']} step={s}"
        if np.isnan(rec).any():
            raise PartError(f"goldens/{t['floor']}: rows not named by any trajectory case; {REGENERATE}")
        return _floor_rec(rid, f"goldens/{t['floor']}", committed, rec, labels, {"trajectories": len(t["cases"])})
    out.append(_guard(rid, traj))
    return out


def _floor_rec(rid: str, file: str, committed: np.ndarray, recomputed: np.ndarray, labels: list[str], extra: dict) -> Rec:
    r = floor_ratios(committed, recomputed, labels)
    m = {k: v for k, v in r.items() if k != "failed"} | {"failedCases": len(r["failed"])} | extra
    if r["failed"]:
        shown = "; ".join(r["failed"][:4]) + (f"; ... and {len(r['failed']) - 4} more" if len(r["failed"]) > 4 else "")
        return (rid, "fail", m, _floor_threshold(),
                f"{file}: the committed noise floors are not the checkpoint's float32-vs-float64 spread "
                f"({r['judged']} judged): {shown}; the tolerances built on them are wrong; {REGENERATE}")
    return (rid, "pass", m, _floor_threshold(), f"{file}: {r['judged']} floors recomputed, committed/recomputed "
            f"median {r['ratioMedian']:.3g}, {r['ratioMin']:.3g} to {r['ratioMax']:.3g}")


PART_FNS: dict[str, Callable[[Context], list[Rec]]] = {
    "checkpoint": part_checkpoint, "velocity": part_velocity, "export": part_export,
    "onnx-agreement": part_onnx_agreement, "trajectory": part_trajectory, "stats": part_stats,
    "quantized-profile": part_quantized_profile, "noise-floor": part_noise_floor,
}
# ids a part writes when it cannot even list its cases (the manifest or the index is unreadable)
PART_IDS = {
    "checkpoint": ["provenance:part=checkpoint"],
    "velocity": [case_id("provenance", part="velocity", variant=v) for v in FLOAT_VARIANTS],
    "export": [case_id("provenance", part="export", variant=v) for v in FLOAT_VARIANTS],
    "onnx-agreement": [case_id("provenance", part="onnx-agreement", variant=v) for v in FLOAT_VARIANTS],
    "trajectory": ["provenance:part=trajectory"],
    "stats": ["provenance:part=stats"],
    "quantized-profile": ["provenance:part=quantized-profile"],
    "noise-floor": [case_id("provenance", part="noise-floor", variant=v) for v in FLOAT_VARIANTS] + [case_id("provenance", part="noise-floor", set="trajectory")],
}


def _error_message(e: BaseException) -> str:
    if isinstance(e, PartError):
        return str(e)
    if isinstance(e, KeyError):
        return (f"a field the check needs is missing from manifest.json or goldens/index.json ({e}); {REGENERATE}")
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}; this is a bug of the check or a malformed bundle; {REGENERATE}"


def _guard(rid: str, fn: Callable[[], Rec]) -> Rec:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return (rid, "error", {}, {}, f"could not run: {_error_message(e)}")


# ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--checkpoint", help="default: the manifest's identity.checkpoint.file in the bundle")
    ap.add_argument("--records", help="append one JSON line per case group to this checks.jsonl")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        ap.error(f"--parts: unknown part(s) {unknown}; known: {','.join(PARTS)}")
    t0 = time.time()
    rec = Recorder(Path(a.records) if a.records else None)
    pool = cf.ThreadPoolExecutor(max_workers=1)  # onnxruntime-node child processes, one at a time
    ctx = Context(Path(a.bundle), a.checkpoint, pool)
    try:
        # start onnxruntime-node (a child process per graph) early: it runs while PyTorch samples
        if {"export", "onnx-agreement"} & set(parts):
            for v in FLOAT_VARIANTS:
                for key, fn in ((f"reexport:{v}", lambda v=v: ctx.reexport(v)),
                                (f"shipped:{v}", lambda v=v: ctx.variant_file(v))):
                    try:
                        ctx.ort_future(key, fn)
                    except Exception:  # noqa: BLE001  (reported by the part that needs it)
                        pass
        if "quantized-profile" in parts:
            for fn in (lambda: ctx.ort_future("shipped:quantized", lambda: ctx.variant_file("quantized")),
                       ctx.quant_images_future):
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    pass
        # PyTorch-only parts first, the ones waiting on onnxruntime-node last
        order = [p for p in PARTS if p in parts and p not in ("export", "onnx-agreement", "quantized-profile")] + \
                [p for p in ("export", "onnx-agreement", "quantized-profile") if p in parts]
        for part in order:
            t_part = time.time()
            try:
                results = PART_FNS[part](ctx)
            except Exception as e:  # noqa: BLE001
                results = [(rid, "error", {}, {}, f"could not run: {_error_message(e)}") for rid in PART_IDS[part]]
            for rid, status, metrics, threshold, message in results:
                rec.add(rid, status, metrics | {"seconds": round(time.time() - t_part, 2)}, threshold, message)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        ctx.close()
    bad = [r for r in rec.records if r["status"] != "pass"]
    print(f"provenance {'FAILED' if bad else 'PASSED'}: {len(rec.records) - len(bad)} of {len(rec.records)} part "
          f"record(s) pass ({time.time() - t0:.0f}s)", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
