"""Datasets: many videos, images, image folders and volumes as one project, each with a status.

Pure core (no napari, no Qt). :func:`open_dataset` opens a V7 export folder, a COCO file with
many images or videos, a SLEAP file with many videos, a DeepLabCut project or a plain folder of
media as a :class:`Dataset` of :class:`Item` s; each item has its media, its annotations (an
:class:`~napari_keyskel.core.annotation_set.AnnotationSet`, read when first needed) and a
:class:`Status` (:data:`STATUSES`: V7's ``new``, ``annotate``, ``review``, ``complete``, with who
and when). Saving writes back to the format it came from, one changed item at a time.
:func:`suggest_frames` picks the frames worth labelling; :class:`Instructions` are the
dataset's annotation instructions.
"""

from __future__ import annotations

from .instructions import INSTRUCTIONS_FILE, Instructions
from .model import KINDS, Counts, Dataset, Item
from .open import DATASET_FORMATS, open_dataset
from .status import STATUSES, Status

__all__ = [
    "DATASET_FORMATS",
    "INSTRUCTIONS_FILE",
    "KINDS",
    "STATUSES",
    "Counts",
    "Dataset",
    "Instructions",
    "Item",
    "Status",
    "open_dataset",
]
