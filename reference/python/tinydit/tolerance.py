"""The tolerance policy, in one place: a case passes when max|onnx - torch_f32| <= max(multiple * floor,
abs_min), where floor is that case's own noise floor, max|torch_f32 - torch_f64| on the same input."""
from __future__ import annotations

# onnxruntime and PyTorch reduce in different orders, so their float32 results differ by about as much as
# float32 differs from float64 (BROWSERS.md measured 3e-6 for both). A multiple of 10 leaves room for
# another kernel set (wasm SIMD, threads); abs_min covers cases whose own floor happens to be tiny.
VELOCITY = {"floorMultiple": 10.0, "absMin": 1e-5,
            "reason": "ORT and PyTorch float32 differ by the same order as float32 vs float64 (the floor); x10 "
                      "covers other kernels and thread counts, 1e-5 covers cases whose floor is near 0"}
# Along a trajectory an error of one call is carried and can grow over 50 steps; the floor of a trajectory
# is measured the same way (a float64 run of the same sampler), step by step.
TRAJECTORY = {"floorMultiple": 10.0, "absMin": 5e-5,
              "reason": "per step, x10 the float32-vs-float64 spread of the same trajectory; 5e-5 floor for early steps"}


def tolerance_for(floor: float, policy: dict) -> float:
    return max(policy["floorMultiple"] * floor, policy["absMin"])
