"""Which kind of pose model a graph is, from its inputs and outputs: the model card.

Pure core. Three families, as people export them:

- ``"yolo-pose"``: Ultralytics YOLO-pose, bottom-up. One output ``[N, 4 + nc + D*K, A]``: for each
  of ``A`` anchors a box ``(cx, cy, w, h)`` in input pixels, ``nc`` class scores and ``K``
  keypoints ``(x, y[, score])`` (``D`` = 3, or 2 without scores), scores already through the
  sigmoid. ``nc`` and ``K`` come from the metadata (``names``, ``kpt_shape``) or, without it, one
  class and ``D`` = 3. An export made with ``nms=True`` gives ``[N, max_det, 6 + D*K]`` rows of
  ``(x1, y1, x2, y2, score, class, keypoints)`` instead (``"yolo-pose-nms"``). Input: a letterboxed
  RGB image scaled to [0, 1]; a dynamic input size takes the metadata's ``imgsz``, else 640.
- ``"simcc"``: RTMPose (and other SimCC heads), top-down. Outputs ``simcc_x`` ``[N, K, r*W]`` and
  ``simcc_y`` ``[N, K, r*H]`` (found by name, else by those shapes), ``r`` = ``simcc_split_ratio``
  (2.0 in RTMPose) read off the shapes. Input: an affine crop of one instance's box.
- ``"heatmap"``: top-down heatmaps, one output ``[N, K, h, w]`` (``h/H = w/W``, often 1/4).

Top-down inputs are normalised as ``(rgb - mean) / std`` (ImageNet's, in 0..255, unless the
metadata gives ``mean`` and ``std``). A graph matching none of these is refused with a
:class:`~.session.ModelError` that names what was found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .session import GraphInfo, ModelError, TensorInfo

__all__ = ["FAMILIES", "IMAGENET_MEAN", "IMAGENET_STD", "ModelCard", "detect_card"]

#: Family name -> what a person reads on the card.
FAMILIES = {
    "yolo-pose": "Ultralytics YOLO-pose (bottom-up)",
    "yolo-pose-nms": "Ultralytics YOLO-pose, NMS in the graph (bottom-up)",
    "simcc": "RTMPose / SimCC (top-down)",
    "heatmap": "heatmaps (top-down)",
}
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
_KNOWN = (
    "Ultralytics YOLO-pose [N, 4+nc+3K, anchors], RTMPose/SimCC (simcc_x [N, K, rW], simcc_y [N, K, rH]) "
    "or heatmaps [N, K, h, w]"
)


@dataclass(frozen=True)
class ModelCard:
    """What a model is and how keyskel runs it (shown before running).

    ``input_size`` is ``(height, width)``; ``batch`` the fixed batch size, or None when dynamic;
    ``names`` the model's keypoint names (``kp0..`` when it carries none: ``names_source``
    ``"generic"``); ``providers`` the onnxruntime providers in use.
    """

    path: str
    family: str
    input_name: str
    input_size: tuple[int, int]
    channels: int
    batch: int | None
    n_keypoints: int
    names: tuple[str, ...]
    names_source: str
    providers: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    n_classes: int = 1
    kpt_dims: int = 3
    simcc_ratio: float = 0.0
    heatmap_size: tuple[int, int] = (0, 0)
    size_source: str = "graph"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def top_down(self) -> bool:
        """True for the families that take one crop per instance box."""
        return self.family in ("simcc", "heatmap")

    @property
    def title(self) -> str:
        """The family as a person reads it."""
        return FAMILIES[self.family]

    def describe(self) -> str:
        """The card as a few lines of text."""
        h, w = self.input_size
        where = ", ".join(p.replace("ExecutionProvider", "") for p in self.providers) or "?"
        names = ", ".join(self.names)
        lines = [
            f"family: {self.title}",
            f"input: {self.input_name!r} {self.channels}x{h}x{w} (height x width"
            + ("" if self.size_source == "graph" else f", from {self.size_source}")
            + f"), batch {'dynamic' if self.batch is None else self.batch}",
            f"keypoints: {self.n_keypoints} ({names}) from {self.names_source}",
            f"runs on: {where}",
        ]
        if self.family.startswith("yolo"):
            lines.insert(2, f"classes: {self.n_classes}")
        if self.family == "simcc":
            lines.insert(2, f"simcc_split_ratio: {self.simcc_ratio:g}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "path": self.path,
            "family": self.family,
            "input": {"name": self.input_name, "height": self.input_size[0], "width": self.input_size[1]},
            "batch": self.batch,
            "keypoints": list(self.names),
            "names_source": self.names_source,
            "providers": list(self.providers),
        }


def _kpt_names(meta: dict[str, Any], k: int) -> list[str] | None:
    """Keypoint names from Ultralytics metadata ``kpt_names`` (a list, or ``{class: [names]}``)."""
    raw = meta.get("kpt_names")
    if isinstance(raw, dict) and raw:
        raw = raw.get(0, raw.get("0", next(iter(raw.values()))))
    if isinstance(raw, (list, tuple)) and len(raw) == k and all(isinstance(n, str) and n for n in raw):
        return [str(n) for n in raw]
    return None


def _image_input(graph: GraphInfo, path: str) -> tuple[TensorInfo, int]:
    if len(graph.inputs) != 1:
        raise ModelError(path, f"a pose model takes one image batch; found {graph.found()}")
    t = graph.inputs[0]
    if len(t.shape) != 4 or t.shape[1] not in (1, 3):
        raise ModelError(path, f"the input is not an image batch [N, 3, H, W]; found {graph.found()}")
    if "float" not in t.type:
        raise ModelError(path, f"the input must be float (normalised pixels); found {graph.found()}")
    return t, int(t.shape[1] or 3)


def _meta_size(meta: dict[str, Any]) -> tuple[int, int] | None:
    v = meta.get("imgsz")
    if isinstance(v, int):
        return v, v
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return int(v[0]), int(v[1])
    return None


def _yolo(graph: GraphInfo, meta: dict[str, Any]) -> dict[str, Any] | None:
    outs = [t for t in graph.outputs if len(t.shape) == 3]
    if len(outs) != 1 or len(graph.outputs) != 1:
        return None
    _, c, a = outs[0].shape
    shape = meta.get("kpt_shape")
    k_meta, dims = None, 3
    if isinstance(shape, (list, tuple)) and len(shape) == 2 and shape[1] in (2, 3):
        k_meta, dims = int(shape[0]), int(shape[1])
    names = meta.get("names")
    nc = len(names) if isinstance(names, (dict, list)) and names else 1
    raw_args = meta.get("args")
    args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
    if c is not None and a is not None and (args.get("nms") or c > a) and (a - 6) % dims == 0 and a > 6:
        k = (a - 6) // dims
        if k_meta in (None, k):
            return {"family": "yolo-pose-nms", "k": k, "dims": dims, "nc": nc}
    if c is None:
        return None
    if k_meta is not None:
        return (
            {"family": "yolo-pose", "k": k_meta, "dims": dims, "nc": nc}
            if c == 4 + nc + dims * k_meta
            else None
        )
    if c > 4 + nc and (c - 4 - nc) % dims == 0:
        return {"family": "yolo-pose", "k": (c - 4 - nc) // dims, "dims": dims, "nc": nc}
    return None


def _simcc(graph: GraphInfo, hw: tuple[int | None, int | None]) -> dict[str, Any] | None:
    by = {t.name.lower(): t for t in graph.outputs}
    sx = next((t for n, t in by.items() if "simcc_x" in n), None)
    sy = next((t for n, t in by.items() if "simcc_y" in n), None)
    h, w = hw
    if (sx is None or sy is None) and len(graph.outputs) == 2 and h and w:
        a, b = graph.outputs
        if len(a.shape) == len(b.shape) == 3 and a.shape[2] and b.shape[2]:
            ra, rb = a.shape[2] / w, b.shape[2] / h
            if ra == rb and ra >= 1 and a.shape[1] == b.shape[1]:
                sx, sy = a, b
    if sx is None or sy is None or len(sx.shape) != 3 or len(sy.shape) != 3:
        return None
    if sx.shape[1] is None or sx.shape[1] != sy.shape[1] or not (sx.shape[2] and sy.shape[2] and h and w):
        return None
    ratio = sx.shape[2] / w
    if abs(sy.shape[2] / h - ratio) > 1e-6:
        return None
    return {"family": "simcc", "k": int(sx.shape[1]), "ratio": float(ratio), "outputs": (sx.name, sy.name)}


def _heatmap(graph: GraphInfo, hw: tuple[int | None, int | None]) -> dict[str, Any] | None:
    maps = [t for t in graph.outputs if len(t.shape) == 4]
    h, w = hw
    if not maps or not (h and w):
        return None
    t = maps[0]
    _, k, mh, mw = t.shape
    if not (k and mh and mw) or mh > h or mw > w or abs(h / mh - w / mw) > 1e-6:
        return None
    return {"family": "heatmap", "k": int(k), "map": (int(mh), int(mw)), "outputs": (t.name,)}


def _floats(v: Any, n: int) -> tuple[float, ...] | None:
    if isinstance(v, (list, tuple)) and len(v) == n and all(isinstance(x, (int, float)) for x in v):
        return tuple(float(x) for x in v)
    return None


def detect_card(
    graph: GraphInfo,
    path: str,
    providers: Sequence[str] = (),
    names: Sequence[str] | None = None,
    names_source: str = "names file",
) -> ModelCard:
    """The :class:`ModelCard` of a graph, or :class:`ModelError` naming what was found.

    ``names``: keypoint names given by the person (a names or skeleton file); they must be as
    many as the model's keypoints. Without them, the metadata's ``kpt_names``, else ``kp0..``.
    """
    meta = graph.metadata
    t, channels = _image_input(graph, path)
    hw = (t.shape[2], t.shape[3])
    found = _simcc(graph, hw) or _heatmap(graph, hw) or _yolo(graph, meta)
    if found is None:
        raise ModelError(
            path, f"its outputs match no known pose model family ({_KNOWN}); found {graph.found()}"
        )
    family = found["family"]
    size, size_source = (int(hw[0] or 0), int(hw[1] or 0)), "graph"
    if family.startswith("yolo") and not (hw[0] and hw[1]):
        meta_size = _meta_size(meta)
        size, size_source = (meta_size, "metadata imgsz") if meta_size else ((640, 640), "the default 640")
    k = int(found["k"])
    if names is not None:
        if len(names) != k:
            raise ModelError(
                path, f"the {names_source} gives {len(names)} names, the model has {k} keypoints"
            )
        kp, source = [str(n) for n in names], names_source
    else:
        meta_names = _kpt_names(meta, k)
        kp, source = (
            (meta_names, "model metadata") if meta_names else ([f"kp{i}" for i in range(k)], "generic")
        )
    mean = _floats(meta.get("mean"), channels) or (IMAGENET_MEAN if channels == 3 else (IMAGENET_MEAN[0],))
    std = _floats(meta.get("std"), channels) or (IMAGENET_STD if channels == 3 else (IMAGENET_STD[0],))
    return ModelCard(
        path=str(path),
        family=family,
        input_name=t.name,
        input_size=(int(size[0]), int(size[1])),
        size_source=size_source,
        channels=channels,
        batch=t.shape[0],
        n_keypoints=k,
        names=tuple(kp),
        names_source=source,
        providers=tuple(providers),
        output_names=tuple(found.get("outputs") or (o.name for o in graph.outputs)),
        n_classes=int(found.get("nc", 1)),
        kpt_dims=int(found.get("dims", 3)),
        simcc_ratio=float(found.get("ratio", 0.0)),
        heatmap_size=(int(found.get("map", (0, 0))[0]), int(found.get("map", (0, 0))[1])),
        mean=mean,
        std=std,
        metadata=dict(meta),
    )
