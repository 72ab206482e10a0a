import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "verify_checkpoint.py"


def run(path):
    return subprocess.run([sys.executable, str(SCRIPT), "--checkpoint", str(path)], capture_output=True, text=True)


def test_good_checkpoint_passes_and_prints_config(tiny_checkpoint):
    r = run(tiny_checkpoint)
    assert r.returncode == 0, r.stderr
    assert '"image_size": 16' in r.stdout and "parameters:" in r.stdout


def test_missing_file(tmp_path):
    r = run(tmp_path / "nope.pt")
    assert r.returncode == 1 and "no such checkpoint file" in r.stderr


def test_truncated_checkpoint(tiny_checkpoint, tmp_path):
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(tiny_checkpoint.read_bytes()[:2000])
    r = run(bad)
    assert r.returncode == 1 and "truncated or not a checkpoint" in r.stderr


def test_missing_key(tiny_checkpoint, tmp_path):
    ck = torch.load(tiny_checkpoint)
    del ck["ema_params"]
    bad = tmp_path / "nokey.pt"
    torch.save(ck, bad)
    r = run(bad)
    assert r.returncode == 1 and "missing key(s) ['ema_params']" in r.stderr


def test_damaged_state_key(tiny_checkpoint, tmp_path):
    ck = torch.load(tiny_checkpoint)
    ck["ema_params"]["pos_embedding"] = ck["ema_params"].pop("pos_embed")
    bad = tmp_path / "renamed.pt"
    torch.save(ck, bad)
    r = run(bad)
    assert r.returncode == 1 and "missing ['pos_embed']" in r.stderr and "unexpected ['pos_embedding']" in r.stderr


def test_zero_output_layer_is_refused(tiny_checkpoint, tmp_path):
    ck = torch.load(tiny_checkpoint)
    for key in ("model_state_dict", "ema_params"):
        ck[key]["final_layer.linear.weight"].zero_()
        ck[key]["final_layer.linear.bias"].zero_()
    bad = tmp_path / "step0.pt"
    torch.save(ck, bad)
    r = run(bad)
    assert r.returncode == 1 and "final_layer.linear is all zeros" in r.stderr


def test_nan_weight_is_refused(tiny_checkpoint, tmp_path):
    ck = torch.load(tiny_checkpoint)
    ck["ema_params"]["blocks.0.mlp.fc1.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(ck, bad)
    r = run(bad)
    assert r.returncode == 1 and "blocks.0.mlp.fc1.weight' holds 1 NaN/Inf" in r.stderr
