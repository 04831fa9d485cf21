"""Pre- and post-processing of the three families: letterbox, affine crops, decoders, NMS.

Pure numpy and OpenCV (``cv2.resize`` / ``cv2.warpAffine``), no onnxruntime. Coordinates here
are image ``(x, y)`` as the models give them (COCO's: integer x is the centre of column x); the
caller turns them into the store's ``(y, x)``.

- :func:`as_rgb8`: a frame ``(y, x)``, ``(y, x, 1|3|4)`` of any dtype -> ``(y, x, 3)`` uint8 (integer
  types scaled by their range, floats in [0, 1] by 255, other floats clipped to 0..255).
- YOLO-pose: :func:`letterbox_into` (Ultralytics' letterbox: keep the aspect, pad with grey 114,
  ``top = round(dh - 0.1)``), :func:`decode_yolo` (score > ``conf``, class-aware NMS at ``iou``,
  at most ``max_det``; keypoints back through the letterbox and clipped to the image, as
  Ultralytics' ``scale_coords`` does).
- Top-down: :func:`center_scale` (box centre, size x ``padding`` 1.25, then widened to the
  input's aspect, as mmpose's ``TopdownAffine``), :func:`crop_into` (the affine crop, border 0,
  then ``(rgb - mean) / std``), :func:`decode_simcc` (argmax of each 1-D vector divided by
  ``simcc_split_ratio``, score ``min(max_x, max_y)`` as mmpose's ``get_simcc_maximum``),
  :func:`decode_heatmaps` (argmax, then a parabola through the peak and its two neighbours on each
  axis, offset clipped to half a cell; score = the peak value), and :func:`crop_to_image`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..propagate import require_cv2

__all__ = [
    "as_rgb8",
    "center_scale",
    "crop_into",
    "crop_to_image",
    "decode_heatmaps",
    "decode_simcc",
    "decode_yolo",
    "letterbox_into",
    "letterbox_params",
    "nms",
]

_PAD = 114 / 255.0
_MAX_WH = 7680.0  # class offset for class-aware NMS, as Ultralytics


def as_rgb8(frame: Any) -> np.ndarray:
    """One frame as ``(y, x, 3)`` uint8 RGB (see the module docstring)."""
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        a = a[..., :3] if a.shape[-1] != 1 else np.repeat(a, 3, axis=-1)
    elif a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    else:
        raise ValueError(f"a frame must be an image (y, x) or (y, x, 3), got shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        lo = 0 if info.min >= 0 else info.min
        scaled = (a.astype(np.float32) - lo) * (255.0 / (info.max - lo))
        return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    f = np.nan_to_num(a.astype(np.float32))
    if f.size and float(f.max()) <= 1.0 and float(f.min()) >= 0.0:
        f = f * 255.0
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


# -- YOLO-pose ------------------------------------------------------------------------------------
def letterbox_params(shape: tuple[int, int], size: tuple[int, int]) -> tuple[float, int, int, int, int]:
    """``(gain, top, left, new_h, new_w)`` of Ultralytics' letterbox of ``shape`` into ``size`` (h, w)."""
    h, w = shape
    gain = min(size[0] / h, size[1] / w)
    new_h, new_w = round(h * gain), round(w * gain)
    dh, dw = (size[0] - new_h) / 2, (size[1] - new_w) / 2
    return gain, round(dh - 0.1), round(dw - 0.1), new_h, new_w


def letterbox_into(out: np.ndarray, rgb: np.ndarray) -> tuple[float, int, int]:
    """Letterbox ``rgb`` (y, x, 3) uint8 into ``out`` ``(C, H, W)`` float32 in [0, 1].

    Returns ``(gain, top, left)``: image ``x = (x_in - left) / gain``, ``y = (y_in - top) / gain``.
    """
    cv2 = require_cv2()
    c, hh, ww = out.shape
    gain, top, left, nh, nw = letterbox_params(rgb.shape[:2], (hh, ww))
    img = rgb if (nh, nw) == rgb.shape[:2] else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if c == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    out.fill(_PAD)
    np.multiply(img.transpose(2, 0, 1), np.float32(1 / 255.0), out=out[:, top : top + nh, left : left + nw])
    return gain, top, left


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices kept, best first (IoU above ``iou`` is suppressed)."""
    order = np.argsort(-scores, kind="stable")
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        union = area[i] + area[rest] - inter
        ratio = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[ratio <= iou]
    return np.asarray(keep, np.int64)


def decode_yolo(
    out: np.ndarray,
    *,
    k: int,
    dims: int,
    nc: int,
    nms_layout: bool,
    conf: float,
    iou: float,
    max_det: int,
    gain: float,
    top: int,
    left: int,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image's output -> ``(boxes (M, 4) xyxy, score (M,), xy (M, K, 2), kpt score (M, K))`` in the image.

    ``out``: ``(4 + nc + dims*K, A)`` (raw layout) or ``(max_det, 6 + dims*K)`` (``nms_layout``).
    A model without keypoint scores (``dims`` 2) gives each keypoint its instance's score.
    """
    if nms_layout:
        rows = out[out[:, 4] > conf][:max_det]
        boxes, score, kp = rows[:, :4].astype(np.float64), rows[:, 4], rows[:, 6:]
    else:
        cls = out[4 : 4 + nc]
        best = cls.max(axis=0)
        cand = np.flatnonzero(best > conf)
        x = out[:, cand]
        score = best[cand]
        c, wh = x[0:2].T.astype(np.float64), x[2:4].T.astype(np.float64)
        boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1)
        offset = cls[:, cand].argmax(axis=0)[:, None] * _MAX_WH if nc > 1 else 0.0
        keep = nms(boxes + offset, score, iou)[:max_det]
        boxes, score, kp = boxes[keep], score[keep], x[4 + nc :, keep].T
    kp = np.asarray(kp, np.float64).reshape(len(score), k, dims)
    xy = kp[..., :2]
    ks = kp[..., 2] if dims == 3 else np.repeat(score[:, None], k, axis=1)
    h, w = shape
    pad = np.array([left, top], np.float64)
    xy = (xy - pad) / gain
    xy[..., 0] = np.clip(xy[..., 0], 0, w)
    xy[..., 1] = np.clip(xy[..., 1], 0, h)
    boxes = ((boxes.reshape(-1, 2, 2) - pad) / gain).reshape(-1, 4)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h)
    return boxes, np.asarray(score, np.float32), xy, np.asarray(ks, np.float32)


# -- top-down -------------------------------------------------------------------------------------
def center_scale(
    boxes: np.ndarray, size: tuple[int, int], padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(M, 4)`` xyxy -> ``(centre (M, 2) xy, scale (M, 2) wh)`` with the aspect of ``size`` (h, w)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    center = (b[:, :2] + b[:, 2:]) / 2
    wh = np.maximum(b[:, 2:] - b[:, :2], 1.0) * padding
    aspect = size[1] / size[0]
    wide = wh[:, 0] > wh[:, 1] * aspect
    wh[:, 1] = np.where(wide, wh[:, 0] / aspect, wh[:, 1])
    wh[:, 0] = np.where(wide, wh[:, 0], wh[:, 1] * aspect)
    return center, wh


def crop_into(
    out: np.ndarray, rgb: np.ndarray, center: np.ndarray, scale: np.ndarray, mean: Any, std: Any
) -> None:
    """The affine crop of ``rgb`` at ``center``/``scale`` into ``out`` ``(C, H, W)``, normalised."""
    cv2 = require_cv2()
    c, hh, ww = out.shape
    s = ww / scale[0]
    m = np.array([[s, 0.0, ww / 2 - center[0] * s], [0.0, s, hh / 2 - center[1] * s]])
    crop = cv2.warpAffine(rgb, m, (ww, hh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    if c == 1:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None]
    mu = np.asarray(mean, np.float32).reshape(c, 1, 1)
    sd = np.asarray(std, np.float32).reshape(c, 1, 1)
    np.subtract(crop.transpose(2, 0, 1), mu, out=out)
    out /= sd


def crop_to_image(xy: np.ndarray, center: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop-input ``(x, y)`` ``(M, K, 2)`` -> image ``(x, y)``."""
    wh_in = np.array([size[1], size[0]], np.float64)
    return xy / wh_in * scale[:, None, :] + center[:, None, :] - scale[:, None, :] / 2


def decode_simcc(sx: np.ndarray, sy: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors ``(M, K, rW)``, ``(M, K, rH)`` -> ``(xy (M, K, 2) in input pixels, score (M, K))``."""
    x = np.argmax(sx, axis=-1).astype(np.float64) / ratio
    y = np.argmax(sy, axis=-1).astype(np.float64) / ratio
    score = np.minimum(sx.max(axis=-1), sy.max(axis=-1)).astype(np.float32)
    return np.stack([x, y], axis=-1), score


def _refine(left: np.ndarray, mid: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex offset of the parabola through three equally spaced samples, clipped to ±0.5."""
    den = left - 2 * mid + right
    off = np.divide(left - right, 2 * den, out=np.zeros_like(mid), where=den < 0)
    return np.clip(off, -0.5, 0.5)


def decode_heatmaps(hm: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps ``(M, K, h, w)`` -> ``(xy (M, K, 2) in input pixels (h, w ``size``), score (M, K))``."""
    m, k, h, w = hm.shape
    flat = hm.reshape(m, k, h * w).astype(np.float64)
    idx = np.argmax(flat, axis=-1)
    py, px = np.divmod(idx, w)
    score = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    grid = flat.reshape(m, k, h, w)
    mi, ki = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return grid[mi, ki, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]

    inner_x = (px > 0) & (px < w - 1)
    inner_y = (py > 0) & (py < h - 1)
    dx = np.where(inner_x, _refine(at(py, px - 1), score, at(py, px + 1)), 0.0)
    dy = np.where(inner_y, _refine(at(py - 1, px), score, at(py + 1, px)), 0.0)
    xy = np.stack([px + dx, py + dy], axis=-1) * np.array([size[1] / w, size[0] / h])
    return xy, score.astype(np.float32)
