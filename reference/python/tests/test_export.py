import subprocess
import sys
from pathlib import Path

import onnx

from tinydit.export import io_signature

SCRIPT = Path(__file__).resolve().parents[1] / "export_dit_onnx.py"


def export(ckpt, out, *extra):
    return subprocess.run([sys.executable, str(SCRIPT), "--checkpoint", str(ckpt), "--output", str(out), *extra],
                          capture_output=True, text=True)


def test_guided_export_verifies_and_has_the_contract(tiny_checkpoint, tmp_path):
    out = tmp_path / "m.onnx"
    r = export(tiny_checkpoint, out, "--verify", "--test", "--quantize")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verify m.onnx: PASSED" in r.stdout and "verify m_quant.onnx: PASSED" in r.stdout
    for f in (out, tmp_path / "m_quant.onnx"):
        proto = onnx.load(str(f))
        assert proto.opset_import[0].version == 17
        sig = io_signature(proto)
        assert [i["name"] for i in sig["inputs"]] == ["noise", "timestep", "breed"]
        assert [i["dtype"] for i in sig["inputs"]] == ["float32", "float32", "int64"]
        assert [o["name"] for o in sig["outputs"]] == ["velocity"]
        assert sig["inputs"][0]["shape"] == ["batch", 3, 16, 16]
    assert any(n.op_type == "MatMulInteger" for n in onnx.load(str(tmp_path / "m_quant.onnx")).graph.node)


def test_raw_export(tiny_checkpoint, tmp_path):
    r = export(tiny_checkpoint, tmp_path / "raw.onnx", "--no-cfg", "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "raw.onnx")).metadata_props}
    assert meta["tinydit.guidance"] == "none"


def test_verify_catches_an_export_that_disagrees_with_pytorch(tiny_checkpoint, tmp_path, tiny_model):
    """--verify compares with PyTorch: an ONNX from other weights must fail it."""
    import torch

    from export_dit_onnx import verify_export
    from tinydit.export import export_onnx
    other = tmp_path / "other.onnx"
    with torch.no_grad():
        tiny_model.final_layer.linear.bias.add_(1e-3)
    export_onnx(tiny_model, other, True, 1.5, 13)
    torch.manual_seed(0)
    ck = torch.load(tiny_checkpoint)
    tiny_model.load_state_dict(ck["ema_params"])
    ok, lines = verify_export(tiny_model, other, True, 1.5, 13)
    assert not ok and any("FAIL" in ln for ln in lines)


def test_bad_checkpoint_exits_nonzero(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    r = export(bad, tmp_path / "x.onnx")
    assert r.returncode == 1 and "bad.pt" in r.stderr
