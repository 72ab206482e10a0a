"""ONNX export of TinyDiT (TorchScript exporter, opset 17, only the batch axis dynamic), and the check
of an export against PyTorch through onnxruntime-node (the runtime the gate judges with)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from .model import GuidedExport, RawExport, TinyDiT
from .quantize import quantize_dynamic_uint8

OPSET = 17
INPUT_NAMES = ["noise", "timestep", "breed"]
OUTPUT_NAMES = ["velocity"]
REPO_ROOT = Path(__file__).resolve().parents[3]


def export_onnx(model: TinyDiT, out: Path, guided: bool, scale: float, null_index: int,
                metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    cfg = model.cfg
    module = GuidedExport(model, scale, null_index) if guided else RawExport(model)
    module.eval()
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    t = torch.tensor([0.25, 0.75])
    b = torch.tensor([0, 1], dtype=torch.int64)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, (x, t, b), buf, opset_version=OPSET, input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, do_constant_folding=True,
                          dynamic_axes={"noise": {0: "batch"}, "timestep": {0: "batch"}, "breed": {0: "batch"},
                                        "velocity": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    # The exporter leaves the guided graph's output dims symbolic (Add's broadcast); the contract says only the
    # batch axis is dynamic, so state the output shape exactly.
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    for d, v in zip(dims, ["batch", cfg.in_channels, cfg.image_size, cfg.image_size]):
        d.Clear()
        if isinstance(v, str):
            d.dim_param = v
        else:
            d.dim_value = v
    for k, v in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return proto


def quantize_file(src: Path, dst: Path, metadata: dict[str, str] | None = None) -> int:
    proto = onnx.load(str(src))
    proto, count = quantize_dynamic_uint8(proto)
    props = {p.key: p.value for p in proto.metadata_props}
    props.update(metadata or {})
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(dst))
    return count


def run_onnx_node(model_path: Path, noise: np.ndarray, timestep: np.ndarray, breed: np.ndarray,
                  threads: int = 1) -> np.ndarray:
    """Runs an ONNX file with onnxruntime-node (harness/cli/ort-run.ts) and returns `velocity`."""
    with tempfile.TemporaryDirectory() as d:
        paths = {n: Path(d) / f"{n}.npy" for n in ("noise", "timestep", "breed", "velocity")}
        np.save(paths["noise"], noise.astype(np.float32))
        np.save(paths["timestep"], timestep.astype(np.float32))
        np.save(paths["breed"], breed.astype(np.int64))
        tsx = REPO_ROOT / "node_modules" / ".bin" / "tsx"
        if not tsx.exists():
            raise RuntimeError(f"{tsx} not found: run `npm ci` in {REPO_ROOT} (onnxruntime-node runs the export check)")
        cmd = [str(tsx), str(REPO_ROOT / "harness" / "cli" / "ort-run.ts"), "--model", str(model_path),
               "--threads", str(threads), "--out", str(paths["velocity"])]
        for n in ("noise", "timestep", "breed"):
            cmd += ["--input", f"{n}={paths[n]}"]
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "NODE_NO_WARNINGS": "1"})
        if res.returncode != 0:
            raise RuntimeError(f"onnxruntime-node failed on {model_path}:\n{res.stdout}\n{res.stderr}")
        return np.load(paths["velocity"])


DTYPE_NAMES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.FLOAT16: "float16",
               onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32", onnx.TensorProto.UINT8: "uint8"}


def io_signature(proto: onnx.ModelProto) -> dict:
    def sig(v):
        tt = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]
        dtype = DTYPE_NAMES.get(tt.elem_type, onnx.TensorProto.DataType.Name(tt.elem_type).lower())
        return {"name": v.name, "dtype": dtype, "shape": dims}
    inits = {i.name for i in proto.graph.initializer}
    return {"inputs": [sig(v) for v in proto.graph.input if v.name not in inits],
            "outputs": [sig(v) for v in proto.graph.output]}


def describe(proto: onnx.ModelProto) -> str:
    return json.dumps(io_signature(proto))
