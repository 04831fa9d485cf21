"""What a sleap-io format (or CVAT XML) cannot hold of a dataset, said with the write (nothing lost silently).

:data:`HOLDS` lists, per format, which of keyskel's annotation facts its file keeps through
sleap-io (checked by a round trip in the tests): occluded nodes, interpolated positions (told
apart from keys), scores, track names and left/right pairs. No sleap-io format keeps unlabelled
keys ("not here") or a track's ``meta`` (review states among it). :func:`losses` counts what the
dataset has of the rest; the writer warns with that list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.store import OCCLUDED

__all__ = ["HOLDS", "Loss", "losses"]

#: The facts each format keeps (the others are lost on write).
HOLDS: dict[str, frozenset[str]] = {
    "sleap": frozenset({"occluded", "interpolated", "scores", "track_names", "flip_pairs"}),
    "dlc": frozenset({"track_names"}),
    "yolo": frozenset(),
    "nwb": frozenset(),
    # the instance's rectangle label; scores on the keypoint regions
    "labelstudio": frozenset({"track_names", "scores"}),
    # CVAT XML (napari_keyskel.formats.cvat): outside keyframes are unlabelled keys
    "cvat_video": frozenset({"occluded", "interpolated", "unlabelled", "attributes", "other_shapes"}),
    "cvat_images": frozenset({"occluded", "unlabelled", "attributes", "other_shapes"}),
}
#: CVAT extras of a track that are the annotator's data (the attributes CVAT shows).
_CVAT_ATTRIBUTES = frozenset({"attributes", "element_attributes"})
#: Track meta keys other formats own (kept by them, not user data).
_FORMAT_META = frozenset({"coco", "cvat", "darwin", "labelstudio", "nwb", "sleap", "v7_instance_id"})


@dataclass(frozen=True)
class Loss:
    """One kind of fact the target cannot hold: its name, how many the dataset has, and a phrase."""

    fact: str
    count: int
    text: str


def losses(ds: AnnotationSet, fmt: str) -> list[Loss]:
    """What of ``ds`` a write as ``fmt`` loses (empty: nothing)."""
    holds = HOLDS[fmt]
    n = dict.fromkeys(
        ("occluded", "interpolated", "unlabelled", "scores", "meta", "track_names", "attributes"), 0
    )
    pairs = 0
    for s in ds.stores:
        pairs += len(s.skeleton.flip_pairs)
        for t in s:
            placed = np.isfinite(t.coords[..., 0])
            n["occluded"] += int((placed & (t.visibility == OCCLUDED)).sum())
            n["interpolated"] += int((placed & ~t.is_key).sum())
            n["unlabelled"] += int((~placed & t.is_key).sum())
            n["scores"] += int((placed & np.isfinite(t.score)).sum())
            n["meta"] += int(bool(set(t.meta) - _FORMAT_META))
            n["track_names"] += int(bool(t.name) and t.name != f"instance {t.track_id}")
            cvat = t.meta.get("cvat")
            n["attributes"] += int(isinstance(cvat, dict) and bool(set(cvat) & _CVAT_ATTRIBUTES))
    said = {
        "occluded": f"{_n(n['occluded'], 'occluded node')} (read back as not placed)",
        "interpolated": f"{_n(n['interpolated'], 'interpolated position')} (read back as keys)",
        "unlabelled": f"{_n(n['unlabelled'], 'unlabelled key')} ('not here')",
        "scores": _n(n["scores"], "node score"),
        "meta": f"the meta (review states among it) of {_n(n['meta'], 'instance')}",
        "track_names": _n(n["track_names"], "instance name"),
        "attributes": f"the CVAT attributes of {_n(n['attributes'], 'instance')}",
    }
    out = [Loss(f, n[f], said[f]) for f in n if n[f] and f not in holds]
    if pairs and "flip_pairs" not in holds:
        out.append(Loss("flip_pairs", pairs, _n(pairs, "left/right pair")))
    others = _cvat_shapes(ds)
    if others and "other_shapes" not in holds:
        out.append(Loss("other_shapes", others, f"{_n(others, 'other CVAT shape')} (boxes, polygons, tags)"))
    return out


def _cvat_shapes(ds: AnnotationSet) -> int:
    """The shapes of a CVAT file read that are not skeletons (kept for a CVAT write)."""
    own = ds.meta.get("cvat")
    count = len(own.get("other_tracks") or []) if isinstance(own, dict) else 0
    for fr in ds.frames:
        cv = fr.get("cvat")
        count += len(cv.get("others") or []) if isinstance(cv, dict) else 0
    return count


def _n(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"
