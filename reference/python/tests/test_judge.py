"""The judge and the yardstick recipe (make_yardstick.py), fast: shapes, the statistics on known inputs, and the
--images path end to end on a tiny folder of procedural PNGs (1 epoch, a few images per breed)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinydit.dataset import BREEDS, make_dataset  # noqa: E402
from tinydit.judge import Judge, judge_input, kid, to_uint8_nchw, validity_features  # noqa: E402
from tinydit.noise import seeded_noise  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("size,stages", [(32, 3), (128, 5)])
def test_judge_shapes_any_power_of_two_size(size, stages):
    torch.manual_seed(0)
    m = Judge(13, size).eval()
    logits, feats = m(torch.zeros(2, 3, size, size))
    assert logits.shape == (2, 13) and feats.shape == (2, m.feature_dim)
    assert sum(isinstance(x, torch.nn.AvgPool2d) for x in m.body) + sum(
        isinstance(x, torch.nn.Conv2d) and x.stride == (2, 2) for x in m.body) == stages
    with pytest.raises(ValueError):
        Judge(13, 48)


def test_pixels_round_trip_like_the_app():
    x = np.array([[[[-1.0, -0.99, 0.0, 1.0, 1.5]]]], np.float32).repeat(3, axis=1)
    u = to_uint8_nchw(x)
    assert u[0, 0, :, 0].tolist() == [0, 1, 128, 255, 255]  # round((x+1)/2*255), half up, clamped
    back = judge_input(u)
    assert back.dtype == np.float32 and abs(float(back[0, 0, 0, 2]) - (128 / 255 * 2 - 1)) < 1e-7


def test_validity_features_on_noise_constant_and_training_images():
    noise = to_uint8_nchw(seeded_noise(3, (1, 3, 32, 32)))[0]
    f = validity_features(noise)
    assert f["highFrequency"] > 0.9 and f["clippedFraction"] > 0.5
    flat = np.full((32, 32, 3), 100, np.uint8)
    assert validity_features(flat) == {"highFrequency": 0.0, "saturation": 0.0, "contrast": 0.0, "clippedFraction": 0.0}
    x, _ = make_dataset(2, seed=5)
    for img in to_uint8_nchw(x):
        g = validity_features(img)
        assert g["highFrequency"] < 0.7 and g["contrast"] > 5


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    assert abs(kid(a[:50], b)) < 0.05
    assert kid(a[:50] + 1.0, b) > 1.0


def test_make_yardstick_from_a_folder_of_images(tmp_path):
    """--images with one subfolder per breed (the Oxford-IIIT Pet route), on 3 breeds of procedural PNGs."""
    from PIL import Image
    import make_yardstick
    names = ["Bombay", "Persian", "Russian Blue"]
    x, y = make_dataset(40, seed=9)
    u8 = to_uint8_nchw(x)
    root = tmp_path / "pets"
    for b, name in enumerate(names):
        d = root / name.replace(" ", "_")
        d.mkdir(parents=True)
        for i, img in enumerate(u8[y == BREEDS.index(name)]):
            Image.fromarray(img).resize((64, 64), Image.NEAREST).save(d / f"{i}.png")  # resized back to 32 by the loader
    out = tmp_path / "ys"
    rc = make_yardstick.main(["--images", str(root), "--size", "32", "--breeds", ",".join(names), "--id", "test-pets-32-v1",
                              "--epochs", "2", "--band-sizes", "4,8", "--threads", "1", "--allow-weak", "--out", str(out)])
    assert rc == 0
    ys = json.loads((out / "yardstick.json").read_text())
    assert ys["id"] == "test-pets-32-v1" and ys["breeds"] == names and ys["source"]["kind"] == "folder"
    assert ys["splits"]["perBreed"]["Bombay"] == {"train": 20, "ref": 10, "null": 10}
    assert set(ys["kid"]["bands"]) == {"4"}  # 8 > null split (10) / 2: only n that the null split can draw twice over
    assert ys["judge"]["onnxVsTorch"]["logitsMaxAbs"] < 1e-3
    assert isinstance(ys["quality"]["usable"], bool)  # 2 epochs on 20 images per breed: usually not, and it says so
    for key, entry in ys["files"].items():
        assert (out / entry["file"]).stat().st_size == entry["bytes"], key
    ref = np.load(out / "ref_features.npy")
    assert ref.shape == (3, 10, ys["judge"]["featureDim"]) and ref.dtype == np.float32
