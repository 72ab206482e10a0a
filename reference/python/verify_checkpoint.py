"""Verify a TinyDiT checkpoint: structure and keys, model instantiation, a dummy inference, NaN/Inf and an
all-zero output layer. Prints parameters and config; exits non-zero naming the problem.

    /usr/bin/python3 reference/python/verify_checkpoint.py --checkpoint fixtures/default/checkpoint.pt
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.checkpoint import CheckpointError, load_checkpoint, sanity_problems  # noqa: E402
from tinydit.model import count_parameters  # noqa: E402


def verify_checkpoint(path: str | Path) -> dict:
    """Returns {valid, problems, config, step, parameters}; never raises for a bad checkpoint."""
    result: dict = {"path": str(path), "valid": False, "problems": [], "config": None, "step": None, "parameters": 0}
    try:
        ck = load_checkpoint(path, weights="ema")
    except CheckpointError as e:
        result["problems"].append(str(e))
        return result
    result.update(config=ck.config.to_dict(), step=ck.step, parameters=count_parameters(ck.model))
    result["problems"] = sanity_problems(ck)
    # The raw weights must be usable too (an export may pick them by mistake; the gate then sees the drift).
    result["valid"] = not result["problems"]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    r = verify_checkpoint(a.checkpoint)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"checkpoint: {r['path']}")
        if r["config"] is not None:
            print(f"config:     {json.dumps(r['config'])}")
            print(f"step:       {r['step']}")
            print(f"parameters: {r['parameters']:,}")
        for p in r["problems"]:
            print(f"FAIL: {p}", file=sys.stderr)
        print("checkpoint verification PASSED" if r["valid"] else "checkpoint verification FAILED")
    return 0 if r["valid"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
