"""check_provenance.py: its rules as functions (noise floors, quantized profile) and its records (a part that
cannot run is an 'error' naming the file and the fix, never a pass). The expensive proofs (a perturbed velocity
and trajectory golden caught) run in the gate: suites/node/provenance.test.ts."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import check_provenance as cp

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "default"
RECORD_KEYS = {"id", "check", "runtime", "status", "metrics", "threshold", "message", "artifacts", "time"}


def linked_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(FIXTURE, dst, copy_function=os.link)
    return dst


def replace(path: Path, data: np.ndarray) -> None:
    path.unlink()  # never write through the hard link into the fixture
    np.save(path, data)


def read_records(path: Path) -> dict[str, dict]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in recs:
        assert set(r) == RECORD_KEYS and r["check"] == "provenance" and r["runtime"] == "python"
        assert r["status"] in ("pass", "fail", "error") and r["time"].endswith("Z")
    return {r["id"]: r for r in recs}


# --- the noise-floor rule


def test_floor_rule_accepts_ulp_level_scatter():
    rng = np.random.default_rng(0)
    r = rng.uniform(1e-6, 4e-6, 70)
    c = r * rng.uniform(0.5, 2.0, 70)  # what another CPU does to single floors
    res = cp.floor_ratios(c, r, [f"case{i}" for i in range(70)])
    assert res["failed"] == [] and res["judged"] == 70


def test_floor_rule_rejects_floors_inflated_as_a_whole():
    r = np.full(70, 3e-6)
    res = cp.floor_ratios(r * 2.5, r, [f"case{i}" for i in range(70)])
    assert res["failed"] and "median" in res["failed"][0]


def test_floor_rule_rejects_one_edited_floor_and_names_it():
    r = np.full(70, 3e-6)
    c = r.copy()
    c[5] *= 10
    res = cp.floor_ratios(c, r, [f"case{i}" for i in range(70)])
    assert len(res["failed"]) == 1 and res["failed"][0].startswith("case5:")


def test_floor_rule_skips_exact_zeros_but_not_a_zero_against_a_real_floor():
    assert cp.floor_ratios(np.zeros(3), np.zeros(3), ["a", "b", "c"])["judged"] == 0
    res = cp.floor_ratios(np.array([0.0, 1e-6, 1e-6]), np.array([1e-6, 1e-6, 1e-6]), ["a", "b", "c"])
    assert [f.split(":")[0] for f in res["failed"]] == ["a"]


# --- the quantized profile


PROFILE = {"measured": {"velocityRelL2Max": 0.0893, "velocityRelL2Median": 0.0240, "imageMeanAbsMax": 0.573,
                        "imageMeanAbsMedian": 0.336, "imageCases": 26},
           "margin": 2.0, "velocityRelL2Max": 0.1786, "imageMeanAbsMax": 1.146}
RECOMPUTED = {"velocityRelL2Max": 0.0894, "velocityRelL2Median": 0.0239, "imageMeanAbsMax": 0.564,
              "imageMeanAbsMedian": 0.368, "imageCases": 26}  # measured on another machine (see QUANT_REL_TOL)


def test_quant_profile_reproduced_across_machines():
    problems, worst, _ = cp.compare_quant_profile(RECOMPUTED, PROFILE)
    assert problems == [] and worst < 0.1


def test_quant_profile_doubled_by_hand_is_caught():
    doubled = {**PROFILE, "measured": {k: v * 2 if k != "imageCases" else v for k, v in PROFILE["measured"].items()},
               "velocityRelL2Max": PROFILE["velocityRelL2Max"] * 2, "imageMeanAbsMax": PROFILE["imageMeanAbsMax"] * 2}
    problems, _, _ = cp.compare_quant_profile(RECOMPUTED, doubled)
    assert len(problems) == 4 and all("apart" in p for p in problems)


def test_quant_thresholds_must_be_measured_times_margin():
    loose = {**PROFILE, "imageMeanAbsMax": 5.0}
    problems, _, _ = cp.compare_quant_profile(RECOMPUTED, loose)
    assert problems == ["tolerance.quantized.imageMeanAbsMax = 5 is not measured x margin = 1.146"]


# --- records and parts that cannot run


def test_no_checkpoint_is_an_error_naming_the_file_and_the_fix(tmp_path):
    bundle = linked_copy(tmp_path)
    (bundle / "checkpoint.pt").unlink()
    out = tmp_path / "checks.jsonl"
    assert cp.main(["--bundle", str(bundle), "--parts", "checkpoint,velocity", "--records", str(out)]) == 1
    recs = read_records(out)
    assert set(recs) == {"provenance:part=checkpoint", "provenance:part=velocity,variant=guided",
                         "provenance:part=velocity,variant=raw"}
    for r in recs.values():
        assert r["status"] == "error"
        assert "checkpoint.pt: missing" in r["message"] and "ship the checkpoint" in r["message"]


def test_a_missing_golden_is_an_error_for_its_part_only(tmp_path):
    bundle = linked_copy(tmp_path)
    (bundle / "goldens" / "velocity" / "raw.npy").unlink()
    out = tmp_path / "checks.jsonl"
    assert cp.main(["--bundle", str(bundle), "--parts", "velocity", "--records", str(out)]) == 1
    recs = read_records(out)
    assert recs["provenance:part=velocity,variant=guided"]["status"] == "pass"
    raw = recs["provenance:part=velocity,variant=raw"]
    assert raw["status"] == "error" and "velocity/raw.npy: missing" in raw["message"] and "make_bundle.py" in raw["message"]


def test_a_perturbed_noise_floor_file_fails_the_noise_floor_part(tmp_path):
    bundle = linked_copy(tmp_path)
    f = bundle / "goldens" / "velocity" / "guided_floor.npy"
    replace(f, np.load(f) * 3)
    # one trajectory (of 26) keeps the float64 sampling short; its floor row stays the committed one
    index = json.loads((bundle / "goldens" / "index.json").read_text())
    index["trajectories"]["cases"] = index["trajectories"]["cases"][:1]
    (bundle / "goldens" / "index.json").unlink()
    (bundle / "goldens" / "index.json").write_text(json.dumps(index))
    floor = bundle / "goldens" / index["trajectories"]["floor"]
    replace(floor, np.load(floor)[:1])
    out = tmp_path / "checks.jsonl"
    assert cp.main(["--bundle", str(bundle), "--parts", "noise-floor", "--records", str(out)]) == 1
    recs = read_records(out)
    assert recs["provenance:part=noise-floor,variant=guided"]["status"] == "fail"
    assert "guided_floor.npy" in recs["provenance:part=noise-floor,variant=guided"]["message"]
    assert recs["provenance:part=noise-floor,variant=raw"]["status"] == "pass"
    assert recs["provenance:part=noise-floor,set=trajectory"]["status"] == "pass"


def test_unknown_part_is_refused():
    with pytest.raises(SystemExit) as ei:
        cp.main(["--bundle", str(FIXTURE), "--parts", "velocity,bogus"])
    assert ei.value.code == 2


def test_a_checkpoint_whose_ema_is_its_raw_weights_fails_the_checkpoint_part(tmp_path):
    """ORIGIN failure 7 in its self-consistent form: the raw weights saved as the EMA. The manifest's sha256 is
    rewritten to match, so only the EMA rule can object; the good checkpoint passes the same part."""
    import torch
    from tinydit.goldens import sha256
    out = tmp_path / "good.jsonl"
    assert cp.main(["--bundle", str(FIXTURE), "--parts", "checkpoint", "--records", str(out)]) == 0
    good = read_records(out)["provenance:part=checkpoint"]
    assert good["status"] == "pass" and good["metrics"]["emaIsRaw"] is False
    bundle = linked_copy(tmp_path)
    ck = torch.load(bundle / "checkpoint.pt", map_location="cpu")
    ck["ema_params"] = {k: v.clone() for k, v in ck["model_state_dict"].items()}
    (bundle / "checkpoint.pt").unlink()
    torch.save(ck, bundle / "checkpoint.pt")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["identity"]["checkpoint"]["sha256"] = sha256(bundle / "checkpoint.pt")
    (bundle / "manifest.json").unlink()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "checks.jsonl"
    assert cp.main(["--bundle", str(bundle), "--parts", "checkpoint", "--records", str(out)]) == 1
    rec = read_records(out)["provenance:part=checkpoint"]
    assert rec["status"] == "fail" and rec["metrics"]["emaIsRaw"] is True and rec["metrics"]["shaMatches"] is True
    assert "ema_params are identical to model_state_dict" in rec["message"]


def test_records_name_the_test_that_started_the_checker(monkeypatch):
    origin = {"runner": "vitest", "file": "suites/node/provenance.test.ts", "title": "provenance", "path": []}
    monkeypatch.setenv(cp.RECORD_ORIGIN_ENV, json.dumps(origin))
    rec = cp.Recorder(None).add("provenance:part=noise-floor,variant=raw", "pass", {})
    assert rec["test"] == origin
    # title null: one test per record, titled by its case id
    monkeypatch.setenv(cp.RECORD_ORIGIN_ENV, json.dumps({**origin, "title": None}))
    rec = cp.Recorder(None).add("provenance:part=noise-floor,variant=raw", "pass", {})
    assert rec["test"]["title"] == "provenance:part=noise-floor,variant=raw"
    monkeypatch.setenv(cp.RECORD_ORIGIN_ENV, "not json")
    with pytest.raises(ValueError, match="TINYDIT_RECORD_ORIGIN"):
        cp.Recorder(None)
    monkeypatch.delenv(cp.RECORD_ORIGIN_ENV)
    assert "test" not in cp.Recorder(None).add("provenance:part=noise-floor,variant=raw", "pass", {})
