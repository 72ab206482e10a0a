"""Broken re-exports of a good checkpoint, for the gate-power mutant catalogue (harness/mutants/catalogue.ts).
Only the mutants that need PyTorch are made here; graph and weight edits are made in TypeScript
(scripts/make-mutants.ts). Each mutant is a folder of ONNX files named like the bundle's variants:

  raw-weights/                model.onnx, model_raw.onnx, model_quant.onnx from model_state_dict (the raw,
                              non-EMA weights: ORIGIN failure 7), with the metadata of an EMA export (the
                              mistake is in which weights were loaded, not in the label)
  older-export-13-rows/       model.onnx, model_raw.onnx, model_quant.onnx of an older layout: 13 embedding rows,
                              "Other" (12) used as the unconditional class (num_classes 12, null index 12)
  quantized-from-raw-weights/ model_quant.onnx quantized from the guided export of the raw weights, while the
                              manifest says quantizedFrom: guided (the EMA export)
  goldens-from-other-weights/ bundle/: a whole bundle (three variants, every golden, the manifest with its
                              quantized profile) written by tinydit.goldens.write_bundle from the raw weights,
                              labelled as the EMA export of the good checkpoint (identity.checkpoint: the good
                              file's name, sha256, step and weights "ema"; ONNX metadata tinydit.weights "ema"):
                              the goldens regenerated from the thing under test, as the real project did. The
                              models agree with these goldens; only re-deriving the goldens from the checkpoint
                              (check_provenance.py) can tell. checkpoint.pt is not copied: the mutant bundle
                              ships the good one (harness/mutants/catalogue.ts)
  sc-*/                       bundle/: self-consistent broken bundles, a broken checkpoint.pt and everything
                              make_bundle.py makes from it (reference/python/self_consistent.py)
  position-as-shipped-regenerated/
                              bundle/: ORIGIN failure 4 as the real project shipped it, with its references made
                              from it: the EMA model with pos_embed zeroed AND an unpatchify that transposes grid
                              and patch axes (Transpose perm [0,5,3,1,4,2], not [0,5,1,3,2,4]), written whole by
                              write_bundle and labelled like goldens-from-other-weights (identity.checkpoint: the
                              good file's name, sha256, step, weights "ema"; the mutant bundle ships the good
                              checkpoint.pt). Models and goldens agree, and depends-on-position is fooled by the
                              pair (1.41); only the goldens-free checks behaviour/locality and
                              behaviour/depends-on-position-flat (harness/checks/behaviour.ts) are aimed at it. Every
                              exported variant is checked to hold the transposing perm and not the good one

    /usr/bin/python3 reference/python/make_mutants.py --checkpoint fixtures/default/checkpoint.pt --out reports/mutants/.python
    (add --only raw-weights,... for a subset)

Writes <out>/<mutant>/... and <out>/made.json ({mutant: {files, checkpointSha256, script}}). Exits 1 naming the
problem when the checkpoint cannot be used.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from tinydit.export import export_onnx, quantize_file  # noqa: E402
from tinydit.model import TinyDiT, TinyDiTConfig  # noqa: E402

GUIDANCE_SCALE = 1.5
import self_consistent  # noqa: E402

MUTANTS = ("raw-weights", "older-export-13-rows", "quantized-from-raw-weights", "goldens-from-other-weights",
           "position-as-shipped-regenerated", *self_consistent.NAMES)
GOOD_UNPATCHIFY_PERM = TinyDiT.UNPATCHIFY_PERM  # what the reference model does
SHIPPED_UNPATCHIFY_PERM = (0, 5, 3, 1, 4, 2)  # ORIGIN failure 4: grid and patch axes transposed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def script_sha() -> str:
    """sha256 of the scripts that make the mutants (this file, then self_consistent.py), as harness/mutants/materialise.ts computes it."""
    here = Path(__file__).resolve().parent
    return hashlib.sha256((here / "make_mutants.py").read_bytes() + (here / "self_consistent.py").read_bytes()).hexdigest()


def _meta(cfg: TinyDiTConfig, step: int, weights: str, null: int) -> dict[str, str]:
    # what reference/python/tinydit/goldens.py writes for the default bundle
    return {"tinydit.config": cfg.name, "tinydit.step": str(step), "tinydit.weights": weights, "tinydit.null_index": str(null)}


def _three_variants(model: TinyDiT, out: Path, meta: dict[str, str], null: int) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx", True, GUIDANCE_SCALE, null, {**meta, "tinydit.guidance": f"baked:{GUIDANCE_SCALE}"})
    export_onnx(model, out / "model_raw.onnx", False, GUIDANCE_SCALE, null, {**meta, "tinydit.guidance": "none"})
    quantize_file(out / "model.onnx", out / "model_quant.onnx", {"tinydit.quantized": "dynamic-uint8"})
    return ["model.onnx", "model_raw.onnx", "model_quant.onnx"]


def older_layout(ck) -> TinyDiT:
    """The EMA model with only 13 embedding rows (0..12) and num_classes 12: 'Other' is the null class."""
    cfg = ck.config
    old_cfg = TinyDiTConfig(**{**cfg.to_dict(), "num_classes": cfg.num_classes - 1})
    old = TinyDiT(old_cfg)
    state = {k: v.clone() for k, v in ck.model.state_dict().items()}
    state["breed_embedder.embedding.weight"] = state["breed_embedder.embedding.weight"][: cfg.num_classes]
    old.load_state_dict(state)
    return old.eval()


class UnpatchifyTransposed(TinyDiT):
    """TinyDiT whose unpatchify permutes [b, n, n, p, p, C] with SHIPPED_UNPATCHIFY_PERM: every pixel lands in the
    wrong place (the shapes still fit, n * p = p * n). A subclass, so copy.deepcopy (write_bundle's float64 twin)
    and torch.onnx.export (the traced permute becomes the graph's Transpose) both keep it."""

    UNPATCHIFY_PERM = SHIPPED_UNPATCHIFY_PERM


def position_as_shipped(ema) -> TinyDiT:
    """The EMA model with pos_embed zeroed and the transposing unpatchify (ORIGIN failure 4 as it shipped)."""
    broken = UnpatchifyTransposed(ema.config)
    state = {k: v.clone() for k, v in ema.model.state_dict().items()}
    state["pos_embed"] = torch.zeros_like(state["pos_embed"])
    broken.load_state_dict(state)
    return broken.eval()


def check_position_as_shipped(out: Path, files: list[str]) -> None:
    """Every exported variant holds the transposing Transpose (and not the good one); the float ones a zero pos_embed."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    for f in files:
        proto = onnx.load(str(out / f))
        perms = [tuple(a.ints) for n in proto.graph.node if n.op_type == "Transpose" for a in n.attribute if a.name == "perm"]
        if SHIPPED_UNPATCHIFY_PERM not in perms or GOOD_UNPATCHIFY_PERM in perms:
            raise RuntimeError(f"{out / f}: Transpose perms {sorted(set(perms))}: the export did not trace the transposing "
                               f"unpatchify {list(SHIPPED_UNPATCHIFY_PERM)}")
        pos = [i for i in proto.graph.initializer if i.name.endswith("pos_embed")]
        if not f.endswith("_quant.onnx") and (len(pos) != 1 or np.any(numpy_helper.to_array(pos[0]))):
            raise RuntimeError(f"{out / f}: pos_embed initializers {[i.name for i in pos]} are not one all-zero tensor")


def regenerated_bundle(ema, made_from, out: Path) -> list[str]:
    """write_bundle on made_from (a LoadedCheckpoint: the raw weights, or a broken model), labelled as the good EMA
    checkpoint; returns the files (relative to out)."""
    from tinydit.goldens import write_bundle
    if out.exists():
        shutil.rmtree(out)
    # the model under the good checkpoint's identity: same path (so the same sha256 and file), step, and the
    # label "ema" (in the manifest and in every ONNX file's tinydit.weights): the lie is in which model was used
    labelled = dataclasses.replace(made_from, weights=ema.weights)
    manifest = write_bundle(labelled, out, f"{ema.config.name}-step{ema.step}", trained=True,
                            export_args=["--checkpoint", str(ema.path), "--out", str(out)], log=lambda m: print(f"  {m}"))
    ck = manifest["identity"]["checkpoint"]
    ck["file"] = ema.path.name  # the bundle that ships these goldens ships the good checkpoint under this name
    if ck["sha256"] != _sha256(ema.path) or ck["weights"] != "ema" or ck["step"] != ema.step:
        raise RuntimeError(f"{out}/manifest.json: identity.checkpoint {ck} is not the good checkpoint's")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=",".join(MUTANTS), help=f"comma-separated subset of {', '.join(MUTANTS)}")
    ap.add_argument("--under-trained-dir", default="reports/models/seed1",
                    help="folder of train.py's kept checkpoints (checkpoint.step<N>.pt) for the sc-under-trained-<N> mutants")
    a = ap.parse_args(argv)
    wanted = [m for m in a.only.split(",") if m]
    unknown = [m for m in wanted if m not in MUTANTS]
    if unknown:
        print(f"FAIL: unknown mutant(s) {unknown}; known: {list(MUTANTS)}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    try:
        ema = load_checkpoint(a.checkpoint, weights="ema")
        raw = load_checkpoint(a.checkpoint, weights="model")
    except CheckpointError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    if all(torch.equal(p, q) for p, q in zip(ema.model.state_dict().values(), raw.model.state_dict().values())):
        print(f"FAIL: {a.checkpoint}: ema_params equal model_state_dict: the raw-weights mutants would equal the good model",
              file=sys.stderr)
        return 1
    out = Path(a.out)
    cfg = ema.config
    made: dict[str, dict] = {}
    ck_sha = _sha256(Path(a.checkpoint))
    for name in wanted:
        d = out / name
        t0 = time.time()
        if name in self_consistent.NAMES:
            try:
                files = [f"bundle/{f}" for f in self_consistent.make(name, Path(a.checkpoint), d / "bundle", Path(a.under_trained_dir))]
            except FileNotFoundError as e:  # an under-trained checkpoint nobody trained: that mutant only is not made
                print(f"SKIPPED {name}: {e}", file=sys.stderr)
                continue
        elif name == "goldens-from-other-weights":
            files = [f"bundle/{f}" for f in regenerated_bundle(ema, raw, d / "bundle")]
        elif name == "position-as-shipped-regenerated":
            broken = dataclasses.replace(ema, model=position_as_shipped(ema))
            files = [f"bundle/{f}" for f in regenerated_bundle(ema, broken, d / "bundle")]
            check_position_as_shipped(d / "bundle", ["model.onnx", "model_raw.onnx", "model_quant.onnx"])
        elif name == "raw-weights":
            files = _three_variants(raw.model, d, _meta(cfg, ema.step, "ema", cfg.null_index), cfg.null_index)
        elif name == "older-export-13-rows":
            old = older_layout(ema)
            null = old.cfg.null_index
            files = _three_variants(old, d, _meta(cfg, ema.step, "ema", null), null)
        else:  # quantized-from-raw-weights
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / "guided_raw_weights.onnx"
            meta = _meta(cfg, ema.step, "ema", cfg.null_index)
            export_onnx(raw.model, tmp, True, GUIDANCE_SCALE, cfg.null_index, {**meta, "tinydit.guidance": f"baked:{GUIDANCE_SCALE}"})
            quantize_file(tmp, d / "model_quant.onnx", {"tinydit.quantized": "dynamic-uint8"})
            tmp.unlink()
            files = ["model_quant.onnx"]
        made[name] = {"files": files, "checkpointSha256": ck_sha, "script": script_sha()}
        shown = ", ".join(files) if len(files) <= 6 else f"{len(files)} files ({', '.join(files[:3])}, ...)"
        print(f"wrote {d}: {shown} in {time.time() - t0:.0f} s")
    index = out / "made.json"
    old_index = json.loads(index.read_text()) if index.exists() else {}
    index.write_text(json.dumps({**old_index, **made}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
