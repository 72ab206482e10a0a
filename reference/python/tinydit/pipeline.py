"""The one function a training job calls at its end (ADR-021 section 4): verify the checkpoint, export
the three ONNX variants with verification, and write the golden bundle."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint, sanity_problems
from .goldens import GUIDANCE_SCALE, STATS_SEEDS, write_bundle


class ExportVerificationError(Exception):
    """An exported ONNX variant does not compute what its checkpoint computes (onnxruntime-node vs PyTorch under
    the tolerance policy). The bundle on disk must not be shipped; the message names each failing variant and case."""

    def __init__(self, bundle: Path, failures: dict[str, list[str]]):
        self.bundle = bundle
        self.failures = failures
        def failing(lines: list[str]) -> str:
            bad = [ln for ln in lines if "FAIL" in ln] or lines[-1:] or ["no detail"]
            return " | ".join(bad[:3]) + (f" | ... and {len(bad) - 3} more" if len(bad) > 3 else "")
        detail = "; ".join(f"{v}: {failing(lines)}" for v, lines in failures.items())
        super().__init__(f"{bundle}: the export of {', '.join(failures)} does not verify against the checkpoint "
                         f"({detail}); the bundle must not be shipped: check the exporter (reference/python/tinydit/"
                         "export.py) and rerun `export_dit_onnx.py --verify` on the checkpoint")


def finish_training(checkpoint: str | Path, out_dir: str | Path, name: str | None = None, trained: bool = True,
                    stats_seeds: int = len(STATS_SEEDS), export_args: list[str] | None = None, log=print) -> dict:
    """Returns {"status": "completed", "verified": True, ...} or raises with the reason: CheckpointError (the
    checkpoint is unusable) or ExportVerificationError (an export does not verify; never a result with verified
    False, which a caller could ignore)."""
    ck = load_checkpoint(checkpoint, weights="ema")
    problems = sanity_problems(ck) if trained else []
    if problems:
        raise CheckpointError("; ".join(problems))
    out = Path(out_dir)
    manifest = write_bundle(ck, out, name or f"{ck.config.name}-step{ck.step}", trained=trained,
                            stats_seeds=list(range(1000, 1000 + stats_seeds)), export_args=export_args, log=log)
    # verify each float export against PyTorch under the tolerance policy (onnxruntime-node)
    from export_dit_onnx import verify_export  # noqa: E402  (CLI module, imported lazily)
    failures: dict[str, list[str]] = {}
    for variant, guided in (("guided", True), ("raw", False)):
        ok, lines = verify_export(ck.model, out / manifest["variants"][variant]["file"], guided, GUIDANCE_SCALE,
                                  ck.config.null_index)
        log(f"verify {variant}: {'PASSED' if ok else 'FAILED'}")
        if not ok:
            failures[variant] = lines
            for line in lines:
                log("  " + line)
    if failures:
        raise ExportVerificationError(out, failures)
    return {"status": "completed", "verified": True, "bundle": str(out), "step": ck.step}
