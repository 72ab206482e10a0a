import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinydit.model import TinyDiT, TinyDiTConfig  # noqa: E402

# A tiny config so the Python tests run in seconds: same structure as the fixture (64 tokens).
TINY = TinyDiTConfig("tinydit_test", image_size=16, patch_size=2, embed_dim=32, depth=2, num_heads=2)


@pytest.fixture()
def tiny_model() -> TinyDiT:
    torch.manual_seed(0)
    m = TinyDiT(TINY)
    # zero-initialised layers (adaLN-zero, final layer) would make every check trivial: give them values
    with torch.no_grad():
        for p in m.parameters():
            if torch.count_nonzero(p) == 0:
                p.normal_(0, 0.05)
    return m.eval()


@pytest.fixture()
def tiny_checkpoint(tmp_path, tiny_model) -> Path:
    path = tmp_path / "tiny.pt"
    torch.save({"model_state_dict": tiny_model.state_dict(), "ema_params": tiny_model.state_dict(), "step": 10,
                "config": TINY.to_dict()}, path)
    return path
