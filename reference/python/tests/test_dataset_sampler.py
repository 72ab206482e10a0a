import numpy as np
import torch

from tinydit.dataset import BREEDS, make_dataset
from tinydit.sampler import sample, time_grid, to_image_uint8


def test_dataset_has_13_classes_in_range():
    x, y = make_dataset(4, seed=3)
    assert x.shape == (52, 3, 32, 32) and x.dtype == np.float32
    assert sorted(set(y.tolist())) == list(range(13)) and len(BREEDS) == 13
    assert x.min() >= -1 and x.max() <= 1


def test_breeds_differ_in_coat_colour():
    """Bombay is black, Persian white: the centre of the image (where the animal is) says so."""
    x, y = make_dataset(16, seed=4)
    centre = x[:, :, 12:20, 12:20].mean(axis=(1, 2, 3))
    assert centre[y == 3].mean() < centre[y == 7].mean() - 0.5


def test_time_grid_and_pixel_rounding():
    assert time_grid(4) == [0.0, 0.25, 0.5, 0.75]
    # JavaScript's Math.round rounds halves up: (x+1)/2*255 = 127.5 -> 128
    x = np.full((3, 1, 1), 0.0, np.float32)
    assert to_image_uint8(x)[0, 0, 0] == 128
    assert to_image_uint8(np.full((3, 1, 1), 2.0, np.float32))[0, 0, 0] == 255


def test_sampler_keeps_every_state(tiny_model):
    cfg = tiny_model.cfg
    x0 = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    xf, traj = sample(tiny_model, x0, torch.tensor([0, 1]), 5, 1.5, cfg.null_index, keep_trajectory=True)
    assert len(traj) == 6 and torch.equal(traj[0], x0) and torch.equal(traj[-1], xf)
