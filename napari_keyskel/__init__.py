"""napari-keyskel: keypoint-skeleton annotation for napari, and a V7 Darwin / COCO format bridge.

Importing this package (and its core and ``formats`` modules) never imports Qt or napari; the
napari glue lives in ``napari_keyskel._napari`` and the docks in ``napari_keyskel._qt``.
"""

from __future__ import annotations

from .core.annotation_set import AnnotationSet
from .core.presets import PRESETS, get_preset, match_preset
from .core.skeleton import Skeleton
from .core.store import OCCLUDED, UNLABELLED, VISIBLE, AnnotationStore, Change, Track
from .errors import FormatError, KeyskelError, SkeletonError, StoreError

__version__ = "0.1.0"

__all__ = [
    "OCCLUDED",
    "PRESETS",
    "UNLABELLED",
    "VISIBLE",
    "AnnotationSet",
    "AnnotationStore",
    "Change",
    "FormatError",
    "KeyskelError",
    "Skeleton",
    "SkeletonError",
    "StoreError",
    "Track",
    "__version__",
    "get_preset",
    "match_preset",
]

#: Scripting API (:mod:`napari_keyskel.api`), re-exported lazily: importing the package stays light.
#: (``api.interpolate`` is not re-exported: ``napari_keyskel.core.interpolate`` is the pure module.)
_API_NAMES = (
    "add_skeleton_layer",
    "get_controller",
    "get_owner",
    "get_store",
    "open_annotations",
    "save_layer",
    "set_node",
    "to_dataset",
)


def __getattr__(name: str) -> object:
    if name in _API_NAMES:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
