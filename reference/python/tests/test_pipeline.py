"""finish_training (the training job's last call) must raise when an export does not verify: a result dict with
verified False is easy to ignore, an exception is not. The bundle writing is replaced by a stub so the tests
run in about a second; verify_export is replaced to fail or pass on purpose."""
import subprocess
import sys
from pathlib import Path

import pytest

import export_dit_onnx
import tinydit.pipeline as pipeline
from tinydit.pipeline import ExportVerificationError, finish_training

REF = Path(__file__).resolve().parents[1]
FAIL_LINE = "case 0 t=0.00 breed=0: max|err|=0.5 floor=3e-06 tol=3e-05 FAIL"


def _stub_bundle(out, *_a, **_k):
    out.mkdir(parents=True, exist_ok=True)
    return {"variants": {"guided": {"file": "model.onnx"}, "raw": {"file": "model_raw.onnx"}}}


@pytest.fixture()
def stub_bundle(monkeypatch):
    monkeypatch.setattr(pipeline, "write_bundle", lambda ck, out, name, **kw: _stub_bundle(out))


def test_finish_training_raises_when_an_export_does_not_verify(tiny_checkpoint, tmp_path, monkeypatch, stub_bundle):
    calls = []

    def verify(model, path, guided, scale, null_index, **kw):
        calls.append(path.name)
        return (False, ["io: ok", FAIL_LINE]) if guided else (True, ["case 0 ok"])

    monkeypatch.setattr(export_dit_onnx, "verify_export", verify)
    with pytest.raises(ExportVerificationError) as ei:
        finish_training(tiny_checkpoint, tmp_path / "bundle", log=lambda _m: None)
    assert calls == ["model.onnx", "model_raw.onnx"]  # every variant is verified before raising
    assert set(ei.value.failures) == {"guided"}
    msg = str(ei.value)
    assert "guided" in msg and FAIL_LINE in msg and "must not be shipped" in msg


def test_finish_training_returns_verified_when_every_export_verifies(tiny_checkpoint, tmp_path, monkeypatch, stub_bundle):
    monkeypatch.setattr(export_dit_onnx, "verify_export", lambda *a, **k: (True, ["ok"]))
    res = finish_training(tiny_checkpoint, tmp_path / "bundle", log=lambda _m: None)
    assert res["status"] == "completed" and res["verified"] is True and res["step"] == 10


def test_make_bundle_cli_exits_nonzero_when_the_export_does_not_verify(tiny_checkpoint, tmp_path):
    """The CLI that wraps finish_training (make_bundle.py) must exit non-zero, naming the reason."""
    out = tmp_path / "bundle"
    code = "\n".join([
        f"import sys; sys.path.insert(0, {str(REF)!r})",
        "import export_dit_onnx, tinydit.pipeline as p",
        "def stub(ck, out, name, **kw):",
        "    out.mkdir(parents=True, exist_ok=True)",
        "    return {'variants': {'guided': {'file': 'model.onnx'}, 'raw': {'file': 'model_raw.onnx'}}}",
        "p.write_bundle = stub",
        f"export_dit_onnx.verify_export = lambda *a, **k: (False, [{FAIL_LINE!r}])",
        "import make_bundle",
        f"raise SystemExit(make_bundle.main(['--checkpoint', {str(tiny_checkpoint)!r}, '--out', {str(out)!r}]))",
    ])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "ExportVerificationError" in r.stderr and "does not verify" in r.stderr
