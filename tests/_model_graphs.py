"""Tiny ONNX pose models built with ``onnx.helper`` whose outputs encode known poses.

Every graph reads its input: ``m = ReduceMax(input)`` per batch item moves the poses (YOLO-pose,
heatmaps) or sets the scores (SimCC), so a frame's brightness shows in its poses and a mix-up of
frames or crops inside a batch shows in the test. Opset 17 (``ReduceMax`` takes ``axes`` as an
attribute there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name)
    )


def _model(nodes, inp, outs, path: Path, metadata: dict | None = None, consts=()) -> Path:
    graph = helper.make_graph([*consts, *nodes], "keyskel_test", [inp], outs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="keyskel-tests"
    )
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def _input(shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, list(shape))


def _max_of_input(shape_out) -> list[onnx.NodeProto]:
    """``m``: the max of each batch item, reshaped to ``shape_out`` (e.g. [-1, 1, 1])."""
    return [
        helper.make_node("ReduceMax", ["images"], ["m4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node(
            "Constant", [], ["mshape"], value=numpy_helper.from_array(np.asarray(shape_out, np.int64))
        ),
        helper.make_node("Reshape", ["m4", "mshape"], ["m"]),
    ]


def yolo_rows(detections, k: int, n: int, nc: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(base, shift)`` ``(4 + nc + 3k, n)`` for detections ``(cx, cy, w, h, score, kpts (k, 3), moves)``.

    ``moves``: coordinates (box centre, keypoints) move by ``m * 20`` input pixels in x and y.
    """
    c = 4 + nc + 3 * k
    base = np.zeros((c, n), np.float32)
    shift = np.zeros((c, n), np.float32)
    for j, (cx, cy, w, h, score, kp, moves) in enumerate(detections):
        base[:4, j] = (cx, cy, w, h)
        base[4, j] = score
        base[4 + nc :, j] = np.asarray(kp, np.float32).reshape(-1)
        if moves:
            shift[0:2, j] = 20.0
            for i in range(k):
                shift[4 + nc + 3 * i : 4 + nc + 3 * i + 2, j] = 20.0
    return base, shift


def yolo_pose(
    path: Path, base: np.ndarray, shift: np.ndarray, size=(320, 320), metadata=None, batch="batch"
) -> Path:
    """``output0 = base + m * shift``, ``[B, C, N]`` (Ultralytics' layout; scores already in [0, 1])."""
    c, n = base.shape
    nodes = [
        *_max_of_input([-1, 1, 1]),
        _const("base", base[None]),
        _const("shift", shift[None]),
        helper.make_node("Mul", ["m", "shift"], ["moved"]),
        helper.make_node("Add", ["base", "moved"], ["output0"]),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, c, n])
    return _model(nodes, _input([batch, 3, *size]), [out], path, metadata)


def simcc(
    path: Path,
    targets: np.ndarray,
    size=(64, 48),
    ratio: float = 2.0,
    names=("simcc_x", "simcc_y"),
    metadata=None,
) -> Path:
    """RTMPose-like: peaks at ``targets`` (K, 2) crop pixels ``(x, y)``, peak value ``0.5 + 0.1 * m``."""
    h, w = size
    k = len(targets)
    tx = (np.asarray(targets, np.float32)[:, 0] * ratio).reshape(1, k, 1)
    ty = (np.asarray(targets, np.float32)[:, 1] * ratio).reshape(1, k, 1)
    nodes = [
        *_max_of_input([-1, 1, 1]),
        _const("a", 0.1),
        _const("b", 0.5),
        _const("c", 0.01),
        helper.make_node("Mul", ["m", "a"], ["ma"]),
        helper.make_node("Add", ["ma", "b"], ["peak"]),
    ]
    for axis, t, nbins, out in (("x", tx, int(w * ratio), names[0]), ("y", ty, int(h * ratio), names[1])):
        nodes += [
            _const(f"bins_{axis}", np.arange(nbins, dtype=np.float32).reshape(1, 1, nbins)),
            _const(f"t_{axis}", t),
            helper.make_node("Sub", [f"bins_{axis}", f"t_{axis}"], [f"d_{axis}"]),
            helper.make_node("Mul", [f"d_{axis}", f"d_{axis}"], [f"d2_{axis}"]),
            helper.make_node("Mul", [f"d2_{axis}", "c"], [f"p_{axis}"]),
            helper.make_node("Sub", ["peak", f"p_{axis}"], [out]),
        ]
    outs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, ["batch", k, int(w * ratio)]),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, ["batch", k, int(h * ratio)]),
    ]
    return _model(nodes, _input(["batch", 3, h, w]), outs, path, metadata)


def heatmaps(path: Path, targets: np.ndarray, size=(64, 48), stride: int = 4, amp: float = 1.0) -> Path:
    """Paraboloid heatmaps ``amp - |p - t|^2``, peaks at ``targets + m * (0.5, 0.25)`` cells ``(x, y)``."""
    h, w = size[0] // stride, size[1] // stride
    k = len(targets)
    t = np.asarray(targets, np.float32)
    nodes = [
        *_max_of_input([-1, 1, 1, 1]),
        _const("tx0", t[:, 0].reshape(1, k, 1, 1)),
        _const("ty0", t[:, 1].reshape(1, k, 1, 1)),
        _const("sx", 0.5),
        _const("sy", 0.25),
        _const("amp", amp),
        _const("xx", np.arange(w, dtype=np.float32).reshape(1, 1, 1, w)),
        _const("yy", np.arange(h, dtype=np.float32).reshape(1, 1, h, 1)),
        helper.make_node("Mul", ["m", "sx"], ["msx"]),
        helper.make_node("Mul", ["m", "sy"], ["msy"]),
        helper.make_node("Add", ["tx0", "msx"], ["tx"]),
        helper.make_node("Add", ["ty0", "msy"], ["ty"]),
        helper.make_node("Sub", ["xx", "tx"], ["dx"]),
        helper.make_node("Sub", ["yy", "ty"], ["dy"]),
        helper.make_node("Mul", ["dx", "dx"], ["dx2"]),
        helper.make_node("Mul", ["dy", "dy"], ["dy2"]),
        helper.make_node("Add", ["dx2", "dy2"], ["d2"]),
        helper.make_node("Sub", ["amp", "d2"], ["heatmaps"]),
    ]
    out = helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["batch", k, h, w])
    return _model(nodes, _input(["batch", 3, *size]), [out], path)


def unknown(path: Path) -> Path:
    """A classifier-shaped graph: ``[1, 3, 64, 64] -> [1, 10]`` (no pose family)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[2, 3], keepdims=0),
        _const("w", np.ones((3, 10), np.float32)),
        helper.make_node("MatMul", ["mean", "w"], ["logits"]),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    return _model(nodes, _input([1, 3, 64, 64]), [out], path)


def fixed_inside(path: Path, k: int = 3) -> Path:
    """A YOLO-pose-shaped graph whose input size is dynamic but which only runs at 320 x 320."""
    c, n = 5 + 3 * k, 20
    nodes = [
        helper.make_node(
            "Constant", [], ["shape"], value=numpy_helper.from_array(np.asarray([1, 3 * 320 * 320], np.int64))
        ),
        helper.make_node("Reshape", ["images", "shape"], ["flat"]),
        helper.make_node("ReduceMax", ["flat"], ["m"], axes=[1], keepdims=1),
        _const("base", np.zeros((1, c, n), np.float32)),
        helper.make_node(
            "Constant", [], ["s3"], value=numpy_helper.from_array(np.asarray([1, 1, 1], np.int64))
        ),
        helper.make_node("Reshape", ["m", "s3"], ["m3"]),
        helper.make_node("Add", ["base", "m3"], ["output0"]),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, c, n])
    return _model(nodes, _input([1, 3, "height", "width"]), [out], path)
