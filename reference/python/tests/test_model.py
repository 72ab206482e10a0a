import numpy as np
import torch

from tinydit.model import TINYDIT_128, TINYDIT_FIXTURE, TinyDiT, count_parameters


def test_parameter_counts_of_the_two_configs():
    assert 1_250_000 < count_parameters(TinyDiT(TINYDIT_FIXTURE)) < 1_350_000  # "about 1.3M"
    assert 32_000_000 < count_parameters(TinyDiT(TINYDIT_128)) < 34_000_000  # "about 33M"
    assert TINYDIT_FIXTURE.num_tokens == TINYDIT_128.num_tokens == 64


def test_null_token_is_the_last_embedding_row(tiny_model):
    cfg = tiny_model.cfg
    assert tiny_model.breed_embedder.embedding.num_embeddings == cfg.num_classes + 1
    assert cfg.null_index == cfg.num_classes == 13


def test_unpatchify_inverts_patch_order(tiny_model):
    cfg = tiny_model.cfg
    p, n = cfg.patch_size, cfg.image_size // cfg.patch_size
    img = torch.arange(3 * cfg.image_size ** 2, dtype=torch.float32).reshape(1, 3, cfg.image_size, cfg.image_size)
    # patchify the way the conv embedding orders tokens (row-major), pixels as (py, px, c)
    tokens = img.reshape(1, 3, n, p, n, p).permute(0, 2, 4, 3, 5, 1).reshape(1, n * n, p * p * 3)
    assert torch.equal(tiny_model.unpatchify(tokens), img)


def test_velocity_depends_on_t_breed_and_position(tiny_model):
    cfg = tiny_model.cfg
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, cfg.image_size, cfg.image_size, generator=g)
    with torch.no_grad():
        v = lambda xx, t, b: tiny_model(xx, torch.tensor([t]), torch.tensor([b]))  # noqa: E731
        assert (v(x, 0.1, 0) - v(x, 0.9, 0)).abs().max() > 1e-3
        assert (v(x, 0.5, 0) - v(x, 0.5, 5)).abs().max() > 1e-3
        # swapping two patches of the input must not just swap the output patches (position embedding)
        p = cfg.patch_size
        xs = x.clone()
        xs[..., :p, :p], xs[..., :p, p:2 * p] = x[..., :p, p:2 * p], x[..., :p, :p]
        out, outs = v(x, 0.5, 0), v(xs, 0.5, 0)
        swapped = out.clone()
        swapped[..., :p, :p], swapped[..., :p, p:2 * p] = out[..., :p, p:2 * p], out[..., :p, :p]
        assert (outs - swapped).abs().max() > 1e-3


def test_guidance_formula(tiny_model):
    cfg = tiny_model.cfg
    x = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    t, b = torch.tensor([0.3, 0.6]), torch.tensor([1, 2])
    with torch.no_grad():
        vc, vu = tiny_model(x, t, b), tiny_model(x, t, torch.full_like(b, cfg.null_index))
        g = tiny_model.forward_with_cfg(x, t, b, 1.5)
    np.testing.assert_allclose(g.numpy(), (vu + 1.5 * (vc - vu)).numpy(), atol=1e-5)


def test_x_prediction_turns_the_predicted_image_into_the_velocity():
    import dataclasses

    import pytest

    from tinydit.model import PREDICTION_T_EPS, config_from_dict

    cfg = dataclasses.replace(TINYDIT_FIXTURE, prediction="x")
    torch.manual_seed(0)
    model = TinyDiT(cfg).eval()  # the output layer starts at zero: x_hat = 0
    x = torch.randn(3, 3, cfg.image_size, cfg.image_size)
    t = torch.tensor([0.0, 0.5, 0.99])
    with torch.no_grad():
        v = model(x, t, torch.tensor([0, 1, 2]))
    expected = -x / torch.clamp(1 - t, min=PREDICTION_T_EPS)[:, None, None, None]
    assert torch.allclose(v, expected, atol=1e-6)
    # the same weights with a velocity head give v = 0: the parametrisation is the only difference
    velocity = TinyDiT(TINYDIT_FIXTURE).eval()
    velocity.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.count_nonzero(velocity(x, t, torch.tensor([0, 1, 2]))) == 0
    assert config_from_dict(cfg.to_dict()).prediction == "x"
    assert config_from_dict({k: v for k, v in cfg.to_dict().items() if k != "prediction"}).prediction == "velocity"
    with pytest.raises(ValueError, match="prediction"):
        config_from_dict({**cfg.to_dict(), "prediction": "eps"})
