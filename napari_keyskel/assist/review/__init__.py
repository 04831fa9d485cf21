"""Review and QA: detectors of suspicious annotations, review states, agreement between annotators.

Pure core (no Qt, no napari). :func:`detect` flags suspicious nodes and frames
(:mod:`~napari_keyskel.assist.review.detectors`); review states per (frame, instance) live in
``Track.meta["review"]`` (:mod:`~napari_keyskel.assist.review.states`); :func:`compare_stores` measures
the agreement of two annotation sets (:mod:`~napari_keyskel.assist.review.agreement`).
"""

from __future__ import annotations

from .detectors import Thresholds, detect
from .flags import KINDS, Flags

__all__ = ["KINDS", "Flags", "Thresholds", "detect"]
