"""Provenance check (run by CI): the committed bundle must still follow from its committed checkpoint.

Re-verifies the checkpoint, checks its sha256 against the manifest, re-exports the guided and raw graphs
and runs them (onnxruntime-node) on the golden velocity inputs, recomputes the velocity goldens, one seed
of trajectories and a subset of the statistics images in PyTorch, and compares everything with the
committed files under the bundle's tolerance policy. Exits 1 naming every golden that no longer follows.

    /usr/bin/python3 reference/python/check_provenance.py --bundle fixtures/default
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinydit.checkpoint import CheckpointError, load_checkpoint, sanity_problems  # noqa: E402
from tinydit.export import export_onnx, run_onnx_node  # noqa: E402
from tinydit.goldens import GUIDANCE_SCALE, sha256  # noqa: E402
from tinydit.noise import seeded_noise  # noqa: E402
from tinydit.sampler import sample, to_image_uint8  # noqa: E402
from tinydit.tolerance import tolerance_for  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--checkpoint", help="default: the manifest's identity.checkpoint.file in the bundle")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    bundle = Path(a.bundle)
    failures: list[str] = []
    manifest = json.loads((bundle / "manifest.json").read_text())
    index = json.loads((bundle / "goldens" / "index.json").read_text())
    g = bundle / "goldens"
    ck_file = Path(a.checkpoint) if a.checkpoint else bundle / (manifest["identity"]["checkpoint"]["file"] or "checkpoint.pt")
    try:
        ck = load_checkpoint(ck_file, weights=manifest["identity"]["checkpoint"].get("weights", "ema"))
    except CheckpointError as e:
        print(f"FAIL: {e}")
        return 1
    failures += sanity_problems(ck)
    if sha256(ck_file) != manifest["identity"]["checkpoint"]["sha256"]:
        failures.append(f"{ck_file}: sha256 differs from manifest identity.checkpoint.sha256: the goldens were made "
                        "from another checkpoint; regenerate the bundle with make_bundle.py")
    model, null = ck.model, ck.config.null_index
    vel = index["velocity"]
    x = np.load(g / vel["inputs"]["noise"])
    t = np.load(g / vel["inputs"]["timestep"])
    b = np.load(g / vel["inputs"]["breed"])
    policy_v = manifest["tolerance"]["velocity"]

    def check(name: str, got: np.ndarray, want: np.ndarray, floors: np.ndarray, policy: dict, labels: list[str]) -> None:
        worst = 0.0
        for k in range(len(want)):
            err = float(np.abs(got[k].astype(np.float64) - want[k]).max())
            tol = tolerance_for(float(floors[k]), policy)
            worst = max(worst, err / tol)
            if not err <= tol:
                failures.append(f"{name} {labels[k]}: max|regenerated - committed| = {err:.3g} > {tol:.3g}")
        print(f"{name}: {len(want)} cases, worst error = {worst:.3f} of its tolerance")

    labels = [c["id"] for c in vel["cases"]]
    with torch.no_grad():
        for variant, guided in (("guided", True), ("raw", False)):
            want = np.load(g / vel["expected"][variant])
            floors = np.load(g / vel["noiseFloor"][variant])
            xt, tt, bt = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(b)
            got = (model.forward_with_cfg(xt, tt, bt, GUIDANCE_SCALE, null) if guided else model(xt, tt, bt)).numpy()
            check(f"goldens/{vel['expected'][variant]} (PyTorch)", got, want, floors, policy_v, labels)
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / f"{variant}.onnx"
                export_onnx(model, path, guided, GUIDANCE_SCALE, null)
                same = sha256(path) == manifest["variants"][variant]["sha256"]
                print(f"re-export {variant}: {'byte-identical to' if same else 'bytes differ from'} "
                      f"{manifest['variants'][variant]['file']}")
                check(f"re-exported {variant} ONNX vs goldens/{vel['expected'][variant]}",
                      run_onnx_node(path, x, t, b), want, floors, policy_v, labels)
        traj = index["trajectories"]
        seed = traj["cases"][0]["seed"]
        cases = [c for c in traj["cases"] if c["seed"] == seed]
        floor_rows = np.load(g / traj["floor"])
        n = ck.config.image_size
        x0 = torch.from_numpy(np.stack([seeded_noise(seed, (3, n, n))] * len(cases)))
        _, tr = sample(model, x0, torch.tensor([c["breed"] for c in cases]), traj["steps"], traj["cfgScale"], null,
                       keep_trajectory=True)
        got = torch.stack(tr).numpy()
        for k, c in enumerate(cases):
            want = np.load(g / c["file"])
            check(f"goldens/{c['file']}", got[:, k], want, floor_rows[c["floorRow"]], manifest["tolerance"]["trajectory"],
                  [f"{c['id']} step={s}" for s in range(len(want))])
        stats = index["stats"]
        ref = np.load(g / stats["images"])
        seeds = stats["seeds"][:2]
        for breed in range(ref.shape[0]):
            x0 = torch.from_numpy(np.stack([seeded_noise(s, (3, n, n)) for s in seeds]))
            xf, _ = sample(model, x0, torch.full((len(seeds),), breed), stats["steps"], stats["cfgScale"], null)
            for k in range(len(seeds)):
                diff = int(np.abs(to_image_uint8(xf[k].numpy()).astype(int) - ref[breed, k].astype(int)).max())
                if diff > 1:  # a value on a rounding boundary may flip by one level; more is a different image
                    failures.append(f"goldens/{stats['images']} breed {breed} seed {seeds[k]}: differs by {diff} levels")
        print(f"stats images: {ref.shape[0]} breeds x {len(seeds)} seeds regenerated")
    for f in failures:
        print(f"FAIL: {f}")
    print(f"provenance {'FAILED' if failures else 'PASSED'} ({len(failures)} problem(s), {time.time() - t0:.0f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
