"""The one function a training job calls at its end (ADR-021 section 4): verify the checkpoint, export
the three ONNX variants with verification, and write the golden bundle."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint, sanity_problems
from .goldens import GUIDANCE_SCALE, STATS_SEEDS, write_bundle


def finish_training(checkpoint: str | Path, out_dir: str | Path, name: str | None = None, trained: bool = True,
                    stats_seeds: int = len(STATS_SEEDS), export_args: list[str] | None = None, log=print) -> dict:
    """Returns {"status": "completed", "verified": True, ...} or raises with the reason."""
    ck = load_checkpoint(checkpoint, weights="ema")
    problems = sanity_problems(ck) if trained else []
    if problems:
        raise CheckpointError("; ".join(problems))
    out = Path(out_dir)
    manifest = write_bundle(ck, out, name or f"{ck.config.name}-step{ck.step}", trained=trained,
                            stats_seeds=list(range(1000, 1000 + stats_seeds)), export_args=export_args, log=log)
    # verify each float export against PyTorch under the tolerance policy (onnxruntime-node)
    from export_dit_onnx import verify_export  # noqa: E402  (CLI module, imported lazily)
    verified = True
    for variant, guided in (("guided", True), ("raw", False)):
        ok, lines = verify_export(ck.model, out / manifest["variants"][variant]["file"], guided, GUIDANCE_SCALE,
                                  ck.config.null_index)
        verified &= ok
        log(f"verify {variant}: {'PASSED' if ok else 'FAILED'}")
        if not ok:
            for line in lines:
                log("  " + line)
    return {"status": "completed", "verified": verified, "bundle": str(out), "step": ck.step}
