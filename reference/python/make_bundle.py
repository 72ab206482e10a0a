"""Write a golden bundle from a checkpoint: the three ONNX variants, the goldens and the manifest.

    /usr/bin/python3 reference/python/make_bundle.py --checkpoint fixtures/default/checkpoint.pt --out fixtures/default
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.pipeline import finish_training  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--untrained", action="store_true", help="mark the bundle as untrained (speed/memory use only)")
    ap.add_argument("--stats-seeds", type=int, default=32)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    res = finish_training(a.checkpoint, a.out, name=a.name, trained=not a.untrained, stats_seeds=a.stats_seeds,
                          export_args=sys.argv[1:])
    print(f"{res} in {time.time() - t0:.0f}s")
    return 0 if res["verified"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
