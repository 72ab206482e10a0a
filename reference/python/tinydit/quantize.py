"""Dynamic uint8 quantisation with the onnx package alone (what onnxruntime's quantize_dynamic does for
MatMul): each MatMul or Gemm whose weight is an initializer becomes DynamicQuantizeLinear(activation) ->
MatMulInteger(activation_q, weight_q) -> Cast -> Mul(scale_a * scale_w) [-> Add bias]. Weights are
quantised per tensor, asymmetric uint8. Activations are quantised at run time (hence "dynamic").
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _quant_uint8(w: np.ndarray) -> tuple[np.ndarray, float, int]:
    lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    q = np.clip(np.round(w / scale) + zp, 0, 255).astype(np.uint8)
    return q, scale, zp


def quantize_dynamic_uint8(model: onnx.ModelProto, min_elements: int = 1024) -> tuple[onnx.ModelProto, int]:
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_nodes = []
    count = 0
    for node in graph.node:
        weight_name = None
        transpose = False
        bias = None
        if node.op_type == "MatMul" and node.input[1] in inits:
            weight_name = node.input[1]
        elif node.op_type == "Gemm" and node.input[1] in inits:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transA", 0) == 0 and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0:
                weight_name = node.input[1]
                transpose = bool(attrs.get("transB", 0))
                bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if weight_name is None:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[weight_name]).astype(np.float32)
        if w.ndim != 2 or w.size < min_elements:
            new_nodes.append(node)
            continue
        if transpose:
            w = w.T
        q, w_scale, w_zp = _quant_uint8(np.ascontiguousarray(w))
        base = f"{node.name or weight_name}_q{count}"
        graph.initializer.extend([
            numpy_helper.from_array(q, f"{base}_W"),
            numpy_helper.from_array(np.array(w_scale, dtype=np.float32), f"{base}_Ws"),
            numpy_helper.from_array(np.array(w_zp, dtype=np.uint8), f"{base}_Wzp"),
        ])
        a = node.input[0]
        out = node.output[0]
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [f"{base}_A", f"{base}_As", f"{base}_Azp"], name=f"{base}_dql"),
            helper.make_node("MatMulInteger", [f"{base}_A", f"{base}_W", f"{base}_Azp", f"{base}_Wzp"], [f"{base}_I"],
                             name=f"{base}_mmi"),
            helper.make_node("Cast", [f"{base}_I"], [f"{base}_F"], to=TensorProto.FLOAT, name=f"{base}_cast"),
            helper.make_node("Mul", [f"{base}_As", f"{base}_Ws"], [f"{base}_S"], name=f"{base}_scale"),
        ]
        if bias is not None:
            new_nodes.append(helper.make_node("Mul", [f"{base}_F", f"{base}_S"], [f"{base}_M"], name=f"{base}_mul"))
            new_nodes.append(helper.make_node("Add", [f"{base}_M", bias], [out], name=f"{base}_bias"))
        else:
            new_nodes.append(helper.make_node("Mul", [f"{base}_F", f"{base}_S"], [out], name=f"{base}_mul"))
        count += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 17))
    return model, count
