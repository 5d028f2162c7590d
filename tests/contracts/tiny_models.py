"""Tiny stand-ins for insightface's buffalo_l ONNX models, built with onnx.helper.

They have the real models' input and output names and shapes, so the backend's own
pre-processing, SCRFD decoding, NMS, alignment and normalisation run unchanged:

- det_10g.onnx: input "input.1" (1, 3, H, W); nine outputs "448" "471" "494" (scores),
  "451" "474" "497" (box distances), "454" "477" "500" (key-point offsets) for strides
  8, 16, 32 with two anchors per cell: shapes (H/s * W/s * 2, 1), (.., 4), (.., 10).
  Its "faces" are bright blobs: a cell scores where it is brightest against its surroundings,
  every box is FACE_SIZE pixels wide (in the detector's 640x640 input) and centred on the
  cell's window, and the key points sit at fixed offsets from that centre.
- w600k_r50.onnx: input "input.1" (n, 3, 112, 112); output "683" (n, 512), a fixed
  random projection of the 8x-pooled crop (not normalised, as with the real model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STRIDES = (8, 16, 32)
SCORE_NAMES = ("448", "471", "494")
BOX_NAMES = ("451", "474", "497")
KPS_NAMES = ("454", "477", "500")
FACE_SIZE = 128.0  # box width and height in the detector input, pixels
# Key points relative to the box centre, as fractions of FACE_SIZE: eyes, nose, mouth.
KPS_LAYOUT = np.array([[-0.17, -0.12], [0.17, -0.12], [0.0, 0.05], [-0.14, 0.22], [0.14, 0.22]])
OPSET = 13
SHIFT = 3  # cells between a face's centre and the surroundings it is compared with


def build_detector(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.astype(np.float32).ravel()))
        return name

    def i64(name: str, value: list[int]) -> str:
        inits.append(helper.make_tensor(name, TensorProto.INT64, [len(value)], value))
        return name

    # Grey level in [-1, 1] after the backend's (x - 127.5) / 128.
    nodes.append(helper.make_node("ReduceMean", ["input.1"], ["grey"], axes=[1], keepdims=1))
    const("gain", np.array(12.0))
    const("level", np.array(0.35))
    const("zero", np.array(0.0))
    i64("rows1", [-1, 1])
    i64("rows4", [-1, 4])
    i64("rows10", [-1, 10])
    for i, s in enumerate(STRIDES):
        # A face here is a spot brighter than its surroundings on all four sides: the
        # mean brightness of each cell's 3x3 neighbourhood minus the brightest of the
        # same means 3 cells to its left, right, top and bottom. Plain, shaded or
        # letterboxed images and the edges of bright areas score nothing; a round blob
        # scores well and peaks at its centre, once per stride, as a trained detector's
        # responses would.
        nodes.append(helper.make_node("AveragePool", ["grey"], [f"cell{s}"], kernel_shape=[s, s], strides=[s, s]))
        nodes.append(
            helper.make_node(
                "AveragePool", [f"cell{s}"], [f"near{s}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                count_include_pad=0,
            )
        )
        sides = []
        for axis in (2, 3):
            for before in (True, False):
                name = f"side{s}_{axis}_{int(before)}"
                pads = [0] * 8
                pads[axis + (0 if before else 4)] = SHIFT
                nodes.append(helper.make_node("Pad", [f"near{s}", i64(name + "_pads", pads)], [name + "_p"], mode="edge"))
                start, end = (0, -SHIFT) if before else (SHIFT, 2**62)
                nodes.append(
                    helper.make_node(
                        "Slice",
                        [name + "_p", i64(name + "_s", [start]), i64(name + "_e", [end]), i64(name + "_a", [axis])],
                        [name],
                    )
                )
                sides.append(name)
        nodes.append(helper.make_node("Max", sides, [f"around{s}"]))
        nodes.append(helper.make_node("Sub", [f"near{s}", f"around{s}"], [f"con{s}"]))
        nodes.append(
            helper.make_node("MaxPool", [f"con{s}"], [f"max{s}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        )
        nodes.append(helper.make_node("Equal", [f"con{s}", f"max{s}"], [f"isp{s}"]))
        nodes.append(helper.make_node("Cast", [f"isp{s}"], [f"peak{s}"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Sub", [f"con{s}", "level"], [f"c{s}"]))
        nodes.append(helper.make_node("Mul", [f"c{s}", "gain"], [f"g{s}"]))
        nodes.append(helper.make_node("Sigmoid", [f"g{s}"], [f"sg{s}"]))
        nodes.append(helper.make_node("Mul", [f"sg{s}", f"peak{s}"], [f"p{s}"]))
        # (1, 1, h, w) -> (h, w, 1), one row per cell in raster order.
        nodes.append(helper.make_node("Transpose", [f"p{s}"], [f"t{s}"], perm=[2, 3, 0, 1]))
        nodes.append(helper.make_node("Squeeze", [f"t{s}", i64(f"ax{s}", [3])], [f"hw1_{s}"]))
        # Two anchors per cell, the second a little weaker, so ties break the same way.
        const(f"second{s}", np.array(0.97))
        nodes.append(helper.make_node("Mul", [f"hw1_{s}", f"second{s}"], [f"b{s}"]))
        nodes.append(helper.make_node("Concat", [f"hw1_{s}", f"b{s}"], [f"two{s}"], axis=2))
        nodes.append(helper.make_node("Reshape", [f"two{s}", "rows1"], [SCORE_NAMES[i]]))
        # Boxes and key points do not depend on the pixels: zero * score + constant, in
        # stride units (the backend multiplies by the stride). The anchor sits at its
        # cell's top-left corner while the pooled window is centred half a stride
        # further on, so everything is shifted by s / 2 to centre the box on the blob.
        nodes.append(helper.make_node("Mul", [SCORE_NAMES[i], "zero"], [f"z{s}"]))
        near_side, far_side = (FACE_SIZE / 2 - s / 2) / s, (FACE_SIZE / 2 + s / 2) / s
        const(f"bd{s}", np.array([near_side, near_side, far_side, far_side]))
        nodes.append(helper.make_node("Add", [f"z{s}", f"bd{s}"], [f"bx{s}"]))
        nodes.append(helper.make_node("Reshape", [f"bx{s}", "rows4"], [BOX_NAMES[i]]))
        const(f"kd{s}", ((KPS_LAYOUT * FACE_SIZE + s / 2) / s).ravel())
        nodes.append(helper.make_node("Add", [f"z{s}", f"kd{s}"], [f"kp{s}"]))
        nodes.append(helper.make_node("Reshape", [f"kp{s}", "rows10"], [KPS_NAMES[i]]))

    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])
    # One symbolic row count per stride: onnxruntime holds equal names to equal sizes.
    outs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"rows_s{STRIDES[i]}", width])
        for names, width in ((SCORE_NAMES, 1), (BOX_NAMES, 4), (KPS_NAMES, 10))
        for i, name in enumerate(names)
    ]
    graph = helper.make_graph(nodes, "tiny_scrfd", [inp], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_recogniser(path: Path, seed: int = 7) -> Path:
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((3 * 14 * 14, 512)).astype(np.float32)
    inits = [
        helper.make_tensor("proj", TensorProto.FLOAT, proj.shape, proj.ravel()),
        helper.make_tensor("flat", TensorProto.INT64, [2], [-1, 3 * 14 * 14]),
    ]
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Reshape", ["pooled", "flat"], ["rows"]),
        helper.make_node("MatMul", ["rows", "proj"], ["683"]),
    ]
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])
    graph = helper.make_graph(nodes, "tiny_arcface", [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_buffalo_l(folder: Path) -> Path:
    """A buffalo_l-shaped model folder holding both tiny models."""
    folder.mkdir(parents=True, exist_ok=True)
    build_detector(folder / "det_10g.onnx")
    build_recogniser(folder / "w600k_r50.onnx")
    return folder


def blob_image(centres: list[tuple[int, int]], size: int, shape=(480, 640)) -> np.ndarray:
    """A dark RGB image with a bright round "face" about `size` pixels wide at each centre.

    The blobs fade out (a Gaussian), so each has one brightest point, as faces have one
    best-scoring position for a detector.
    """
    h, w = shape
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    light = np.zeros((h, w))
    sigma = size / 4.0
    for cx, cy in centres:
        light = np.maximum(light, np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)))
    grey = 20.0 + 215.0 * light
    img = np.stack([grey, grey * 0.96, grey * 0.92], axis=-1)
    return np.ascontiguousarray(np.clip(np.round(img), 0, 255).astype(np.uint8))
