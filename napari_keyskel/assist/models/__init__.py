"""Your own pose model in the loop: run an ONNX model on frames, get proposals.

Pure core (no Qt, no napari); onnxruntime is the ``models`` extra
(``pip install "napari-keyskel[models]"``), imported only when a model is opened.

>>> from napari_keyskel.assist import models
>>> model = models.PoseModel("yolo11n-pose.onnx")         # CPU, or CUDA with onnxruntime-gpu
>>> print(model.card.describe())                         # family, input size, keypoints, names
>>> poses = models.predict(model, video, frames=range(100))   # video: indexable, read lazily
>>> mapping = models.map_keypoints(model.card.names, store.skeleton.nodes)
>>> proposals = models.poses_to_store(models.link_tracks(poses, 100), store, mapping)
>>> summary = models.predict_items(dataset, model, status="new", every=5)  # pending proposals per item

Modules: :mod:`.session` (onnxruntime, providers, errors), :mod:`.card` (family detection, the
model card), :mod:`.decode` (letterbox, crops, decoders, NMS), :mod:`.predict` (batches over
lazy frames), :mod:`.poses` (results as arrays, tracks, proposals, COCO results),
:mod:`.mapping` (keypoint names and the mapping onto a skeleton), :mod:`.where` (which frames),
:mod:`.over_items` (every item of a dataset, kept as each item's pending proposals).
"""

from __future__ import annotations

from .card import FAMILIES, ModelCard, detect_card
from .mapping import KeypointMapping, map_keypoints, read_names, save_mapping, saved_mapping
from .over_items import RunSummary, iter_predict_items, predict_items
from .poses import Poses, coco_results, link_tracks, poses_to_store
from .predict import BoxSource, PoseModel, auto_batch, iter_predict, predict, read_frame
from .session import DEVICES, ModelError, open_session, select_providers

__all__ = [
    "DEVICES",
    "FAMILIES",
    "BoxSource",
    "KeypointMapping",
    "ModelCard",
    "ModelError",
    "PoseModel",
    "Poses",
    "RunSummary",
    "auto_batch",
    "coco_results",
    "detect_card",
    "iter_predict",
    "iter_predict_items",
    "link_tracks",
    "map_keypoints",
    "open_session",
    "poses_to_store",
    "predict",
    "predict_items",
    "read_frame",
    "read_names",
    "save_mapping",
    "saved_mapping",
    "select_providers",
]
