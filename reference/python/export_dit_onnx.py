"""Export a TinyDiT checkpoint (EMA weights) to ONNX: opset 17, inputs noise/timestep/breed, output
velocity, dynamic batch. Guidance is baked in by default (scale 1.5, null token); --no-cfg exports the raw
velocity; --quantize also writes the dynamically quantized uint8 variant next to it (<output>_quant.onnx,
or --quant-output). --verify runs the ONNX checker and compares the export with PyTorch under the
tolerance policy (reference/python/tinydit/tolerance.py) using onnxruntime-node; --test runs the export
on a small batch and checks the output's name, shape and finiteness.

    /usr/bin/python3 reference/python/export_dit_onnx.py --checkpoint C.pt --output model.onnx --verify --test
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from tinydit.export import INPUT_NAMES, OPSET, OUTPUT_NAMES, export_onnx, io_signature, quantize_file, run_onnx_node  # noqa: E402
from tinydit.tolerance import VELOCITY, tolerance_for  # noqa: E402

DEFAULT_SCALE = 1.5


def verify_export(model, onnx_path: Path, guided: bool, scale: float, null_index: int, quantized: bool = False,
                  cases: int = 6, seed: int = 0) -> tuple[bool, list[str]]:
    """Compares ONNX (onnxruntime-node) with PyTorch float32 per case, against the float64 noise floor."""
    cfg = model.cfg
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    lines = []
    sig = io_signature(proto)
    names_ok = [i["name"] for i in sig["inputs"]] == INPUT_NAMES and [o["name"] for o in sig["outputs"]] == OUTPUT_NAMES
    lines.append(f"io: {[i['name'] for i in sig['inputs']]} -> {[o['name'] for o in sig['outputs']]}")
    if not names_ok:
        return False, lines + [f"FAIL: names must be exactly {INPUT_NAMES} -> {OUTPUT_NAMES}"]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(cases, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    t = torch.linspace(0, 1, cases)
    b = torch.arange(cases) % (cfg.num_classes + 1)
    m64 = _double(model)
    with torch.no_grad():
        f = (lambda m, *a: m.forward_with_cfg(*a, scale, null_index)) if guided else (lambda m, *a: m(*a))
        ref32 = f(model, x, t, b).numpy()
        ref64 = f(m64, x.double(), t.double(), b).numpy()
    got = run_onnx_node(onnx_path, x.numpy(), t.numpy(), b.numpy())
    ok = True
    for k in range(cases):
        err = float(np.abs(got[k] - ref32[k]).max())
        floor = float(np.abs(ref32[k] - ref64[k]).max())
        if quantized:
            # uint8 weights: judged on relative error of the whole field, not on the float noise floor
            rel = float(np.linalg.norm(got[k] - ref32[k]) / max(np.linalg.norm(ref32[k]), 1e-12))
            good = rel < 0.1
            lines.append(f"case {k} t={float(t[k]):.2f} breed={int(b[k])}: max|err|={err:.3g} rel-L2={rel:.3g} "
                         f"{'ok' if good else 'FAIL (rel-L2 >= 0.1)'}")
        else:
            tol = tolerance_for(floor, VELOCITY)
            good = bool(np.isfinite(got[k]).all()) and err <= tol
            lines.append(f"case {k} t={float(t[k]):.2f} breed={int(b[k])}: max|err|={err:.3g} floor={floor:.3g} "
                         f"tol={tol:.3g} {'ok' if good else 'FAIL'}")
        ok &= good
    return ok, lines


def _double(model):
    import copy
    return copy.deepcopy(model).double()


def smoke_test(onnx_path: Path, cfg) -> tuple[bool, str]:
    x = np.random.default_rng(1).standard_normal((3, cfg.in_channels, cfg.image_size, cfg.image_size)).astype(np.float32)
    out = run_onnx_node(onnx_path, x, np.array([0.0, 0.5, 1.0], np.float32), np.array([0, 5, cfg.null_index], np.int64))
    want = (3, cfg.in_channels, cfg.image_size, cfg.image_size)
    if out.shape != want:
        return False, f"test: output shape {out.shape}, expected {want}"
    if not np.isfinite(out).all():
        return False, "test: output has NaN/Inf"
    if float(np.abs(out).max()) == 0.0:
        return False, "test: output is identically zero (untrained output layer?)"
    return True, f"test: batch 3 -> velocity {out.shape}, finite, |v|max={float(np.abs(out).max()):.3g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--no-cfg", action="store_true", help="export the raw velocity (the caller applies guidance)")
    ap.add_argument("--cfg-scale", type=float, default=DEFAULT_SCALE)
    ap.add_argument("--weights", choices=["ema", "model"], default="ema", help="EMA (default, what ships) or raw weights")
    ap.add_argument("--quantize", action="store_true")
    ap.add_argument("--quant-output")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--test", action="store_true")
    a = ap.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint, weights=a.weights)
    except CheckpointError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    torch.set_num_threads(2)
    cfg = ck.config
    out = Path(a.output)
    guided = not a.no_cfg
    meta = {"tinydit.config": cfg.name, "tinydit.step": str(ck.step), "tinydit.weights": a.weights,
            "tinydit.guidance": f"baked:{a.cfg_scale}" if guided else "none", "tinydit.null_index": str(cfg.null_index)}
    export_onnx(ck.model, out, guided, a.cfg_scale, cfg.null_index, meta)
    print(f"wrote {out} (opset {OPSET}, {'guided x' + str(a.cfg_scale) if guided else 'raw velocity'}, {a.weights} weights)")
    outputs = [(out, False)]
    if a.quantize:
        qout = Path(a.quant_output) if a.quant_output else out.with_name(out.stem + "_quant.onnx")
        n = quantize_file(out, qout, {**meta, "tinydit.quantized": "dynamic-uint8"})
        print(f"wrote {qout} ({n} MatMul/Gemm quantised to uint8)")
        outputs.append((qout, True))
    ok = True
    for path, quant in outputs:
        if a.verify:
            good, lines = verify_export(ck.model, path, guided, a.cfg_scale, cfg.null_index, quantized=quant)
            print(f"verify {path.name}:")
            for line in lines:
                print("  " + line)
            print(f"verify {path.name}: {'PASSED' if good else 'FAILED'}")
            ok &= good
        if a.test:
            good, msg = smoke_test(path, cfg)
            print(f"{path.name} {msg} {'PASSED' if good else 'FAILED'}")
            ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
