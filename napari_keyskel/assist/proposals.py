"""Proposals: a model's (or a tracker's) keypoints, accepted into annotations or rejected.

A *proposals* store is an ordinary :class:`~napari_keyskel.core.store.AnnotationStore` of the same
skeleton as the annotations, whose placed nodes carry a confidence ``score``. Pure core: no Qt,
no napari.

**Scores and thresholds.** A node is judged by its own score (``Track.score``: a COCO results
file's third values when they are confidences, a model's per-keypoint score). A node without one
takes its instance's score on that frame (:func:`instance_scores`: a COCO result's ``score``, a
SLEAP predicted instance's score). Only a node with neither (e.g. from a Darwin file) passes every
threshold. So *Accept all ≥ score* at 0.81 on a results file whose third values are visibility
flags accepts exactly the instances scored 0.81 or more.

- :func:`proposals_from_dataset` turns what a file holds (a standard COCO results list with
  generic ``kp0..kpK`` nodes or no categories, a COCO or Darwin file) into proposals of the
  annotations: nodes through the keypoint mapping (:func:`~.models.mapping.map_keypoints`: the
  mapping saved with the annotations, else by names, else by order), frames by ``image_id``,
  else by ``(item, frame)``, else a results list's image id is the frame number (what
  ``keyskel predict`` writes without ``--annotations``); instances of a results list (which has
  no identities) get fresh ids, so accepting matches them by OKS; node scores missing are filled
  from the instance scores.
- :func:`selection` picks proposed nodes by frames, instances, nodes and ``min_score``.
- :func:`accept` writes the picked nodes into the annotations as **keys** with their scores and
  re-interpolates around them. Each proposal instance on each frame goes to an annotation instance
  with the same track id if there is one, else to the one it matches best by OKS
  (:func:`~napari_keyskel.assist.matching.match_by_oks`, one-to-one per frame), else to a new instance
  (the proposal's track id when free). Accepted proposals are removed from the proposals store
  unless ``remove=False``.
- :func:`reject` removes the picked nodes from the proposals store.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.store import VISIBLE, AnnotationStore, Change, Track
from ..errors import FormatWarning, KeyskelError, StoreError
from .matching import default_sigmas, match_by_oks

__all__ = [
    "AcceptResult",
    "accept",
    "check_compatible",
    "effective_scores",
    "instance_scores",
    "proposals_from_dataset",
    "reject",
    "selection",
    "with_image_ids",
]

#: Above this many (instance, frame) pairs an accept re-interpolates whole instances at once.
_FULL_REFRESH = 64


def check_compatible(annotations: AnnotationStore, proposals: AnnotationStore) -> None:
    """:class:`StoreError` unless both stores have the same node names and coordinate layout."""
    if tuple(annotations.skeleton.nodes) != tuple(proposals.skeleton.nodes):
        raise StoreError(
            f"proposals have nodes {list(proposals.skeleton.nodes)}, the annotations "
            f"{list(annotations.skeleton.nodes)}"
        )
    if (annotations.coord_ndim, annotations.frame_axis) != (proposals.coord_ndim, proposals.frame_axis):
        raise StoreError(
            f"proposals are {proposals.coord_ndim}-D nodes on frame axis {proposals.frame_axis}, the "
            f"annotations {annotations.coord_ndim}-D on frame axis {annotations.frame_axis}"
        )


def _meta_dict(track: Track, key: str) -> dict[str, Any]:
    value = track.meta.get(key) if isinstance(track.meta, dict) else None
    return value if isinstance(value, dict) else {}


def instance_scores(track: Track) -> np.ndarray:
    """``(L,)`` float32: the instance's score on each frame of the track (NaN: none).

    From a COCO result's ``score`` (``meta["coco"]["ann"][frame]["score"]``) or a SLEAP predicted
    instance's (``meta["sleap"]["instance_score"][frame]``), frames keyed as strings.
    """
    out = np.full(len(track), np.nan, np.float32)
    coco, sleap = _meta_dict(track, "coco"), _meta_dict(track, "sleap")
    sources = [
        {f: a.get("score") for f, a in (coco.get("ann") or {}).items() if isinstance(a, dict)},
        dict(sleap.get("instance_score") or {}),
    ]
    for src in sources:
        for key, value in src.items():
            try:
                r, v = int(key) - track.start, float(value)
            except (TypeError, ValueError):
                continue
            if 0 <= r < len(out) and np.isnan(out[r]) and np.isfinite(v):
                out[r] = v
    return out


def effective_scores(track: Track) -> np.ndarray:
    """``(L, K)``: each node's score, else its instance's score on that frame, else NaN."""
    inst = instance_scores(track)
    return np.where(np.isnan(track.score), inst[:, None], track.score)


def _is_results(dataset: AnnotationSet) -> bool:
    meta = dataset.meta.get("coco")
    return isinstance(meta, dict) and meta.get("kind") == "results"


def _frame_map(dataset: AnnotationSet, frames: Sequence[dict[str, Any]], n: int | None) -> np.ndarray | None:
    """Annotation frame of each proposal frame (-1: none); None: the same numbering."""
    theirs = dataset.frames
    if not theirs:
        return None
    if frames and all("image_id" in fr for fr in theirs) and all("image_id" in fr for fr in frames):
        by_id = {fr["image_id"]: i for i, fr in enumerate(frames)}
        return np.array([by_id.get(fr["image_id"], -1) for fr in theirs], np.int64)
    generic = _is_results(dataset) and all(str(fr.get("item", "")).startswith("image_") for fr in theirs)
    if frames and not generic:
        where = {(str(fr.get("item")), fr.get("frame")): i for i, fr in enumerate(frames)}
        return np.array([where.get((str(fr.get("item")), fr.get("frame")), -1) for fr in theirs], np.int64)
    if generic:  # a results list without images: its image ids are frame numbers
        out = np.full(len(theirs), -1, np.int64)
        for i, fr in enumerate(theirs):
            iid = fr.get("image_id")
            if isinstance(iid, (int, np.integer)) and int(iid) >= 0 and (n is None or int(iid) < n):
                out[i] = int(iid)
        return out
    return None


def with_image_ids(frames: Sequence[dict[str, Any]], path: Any) -> list[dict[str, Any]]:
    """``frames`` of a COCO file with each frame's ``image_id`` from the file itself.

    Reading a COCO file that keyskel wrote forgets the image ids it made up (so V7 -> COCO -> V7
    round-trips); a results list made against that file still names them. Other files: as given.
    """
    from ..formats.coco import looks_like_coco
    from ..formats.coco._read import load_coco_json

    out = [dict(fr) for fr in frames]
    try:
        doc, _ = load_coco_json(Path(path))
    except (KeyskelError, OSError):
        return out
    images = doc.get("images") if isinstance(doc, dict) and looks_like_coco(doc) else None
    if isinstance(images, list) and len(images) == len(out):
        for fr, im in zip(out, images):
            if isinstance(im, dict) and "id" in im:
                fr.setdefault("image_id", im["id"])
                fr.setdefault("file_name", im.get("file_name"))
    return out


def proposals_from_dataset(
    annotations: AnnotationStore,
    dataset: AnnotationSet,
    frames: Sequence[dict[str, Any]] = (),
    mapping: Mapping[Any, Any] | None = None,
    source: str = "proposals",
) -> AnnotationStore:
    """Proposals for ``annotations`` from what a file held (see the module docstring).

    ``frames``: the annotations' frame table (their :class:`AnnotationSet` ``frames``), for
    pairing frames by image id or by ``(item, frame)``; ``mapping``: an explicit ``{node: model
    keypoint}`` (default: the one saved in ``annotations.meta``); ``source``: the file, for messages.
    Proposal frames that are not frames of the annotations are dropped with a
    :class:`~napari_keyskel.errors.FormatWarning` counting them; none matching is an error.
    """
    from .models.mapping import map_keypoints, saved_mapping

    if annotations.coord_ndim != 2 or annotations.frame_axis is None:
        raise StoreError("proposals from a file need 2-D annotations with a frame axis")
    stores = [s for s in dataset.stores if s.name == annotations.name] or list(dataset.stores)
    stores = [s for s in stores if s.coord_ndim == 2]
    if len(stores) != 1:
        raise StoreError(
            f"{source}: no annotation set named {annotations.name!r} and not exactly one to take "
            f"(have {[s.name for s in dataset.stores]})"
        )
    theirs = stores[0]
    explicit = mapping if mapping is not None else saved_mapping(annotations.meta)
    try:
        nodes = map_keypoints(theirs.skeleton.nodes, annotations.skeleton.nodes, explicit)
    except KeyskelError as exc:
        raise StoreError(f"{source}: {exc}") from None
    fmap = _frame_map(dataset, frames, annotations.n_frames)
    src = nodes.source
    rows: list[tuple[Track, int, int, np.ndarray]] = []  # (track, row, annotation frame, nodes taken)
    dropped = 0
    for t in theirs:
        placed = np.isfinite(t.coords).all(axis=-1)
        for r in np.flatnonzero(placed.any(axis=1)).tolist():
            f = t.start + r
            dest = f if fmap is None else (int(fmap[f]) if f < len(fmap) else -1)
            if dest < 0 or (annotations.n_frames is not None and dest >= annotations.n_frames):
                dropped += 1
                continue
            j = np.flatnonzero((src >= 0) & placed[r, np.maximum(src, 0)])
            if j.size:
                rows.append((t, r, dest, j))
    if dropped:
        if not rows:
            raise StoreError(f"{source}: none of its {dropped} poses is on a frame of the annotations")
        warnings.warn(
            FormatWarning(f"{dropped} poses are on frames the annotations do not have; not shown", source),
            stacklevel=2,
        )
    ids = _proposal_ids(rows, annotations, _is_results(dataset))
    out = AnnotationStore(
        annotations.skeleton, 2, annotations.frame_axis, annotations.n_frames, annotations.name
    )
    for i in np.lexsort((np.array([d for _, _, d, _ in rows], np.int64), ids)).tolist():
        t, r, dest, j = rows[i]
        if int(ids[i]) not in out.tracks:
            out.add_track(int(ids[i]), t.name, start=dest)
        k = src[j]
        vis = np.where(t.visibility[r, k] > 0, t.visibility[r, k], VISIBLE)
        score = effective_scores(t)[r, k]
        out.set_points(dest, int(ids[i]), t.coords[r, k], j, vis, key=True, score=score)
    return out


def _proposal_ids(
    rows: list[tuple[Track, int, int, np.ndarray]], annotations: AnnotationStore, results: bool
) -> np.ndarray:
    """Track id of each proposal row.

    A results list's instances without ids are linked frame to frame by the box of their nodes
    and get ids above the annotations'; the others keep theirs.
    """
    from .models.poses import link_boxes

    ids = np.array([t.track_id for t, _, _, _ in rows], np.int64)
    free = np.array([results and not _meta_dict(t, "coco").get("fields") for t, _, _, _ in rows], bool)
    if free.any():
        boxes = np.zeros((len(rows), 4))
        for i, (t, r, _, _) in enumerate(rows):
            yx = t.coords[r][np.isfinite(t.coords[r]).all(axis=-1)]
            boxes[i] = [*yx.min(axis=0)[::-1], *yx.max(axis=0)[::-1]]
        first = max([*annotations.tracks, *ids[~free].tolist(), 0]) + 1
        frames = np.array([d for _, _, d, _ in rows], np.int64)
        ids[free] = link_boxes(frames[free], boxes[free], first)
    return ids


def _ids(values: int | Iterable[int] | None) -> set[int] | None:
    if values is None:
        return None
    if isinstance(values, (int, np.integer)):
        return {int(values)}
    return {int(v) for v in values}


def selection(
    proposals: AnnotationStore,
    frames: int | Iterable[int] | None = None,
    track_ids: int | Iterable[int] | None = None,
    nodes: Any = None,
    min_score: float | None = None,
) -> dict[int, np.ndarray]:
    """``{track id: (L, K) mask}`` of the proposed nodes picked (only tracks with any).

    A node is picked when it is placed (finite coordinates), on one of ``frames`` (default all),
    of one of ``track_ids`` (default all), one of ``nodes`` (names or indices, default all), and
    its score is at least ``min_score``: its own score, else its instance's on that frame
    (:func:`effective_scores`); a node with neither always passes.
    """
    want_frames, want_ids = _ids(frames), _ids(track_ids)
    if want_ids is not None:
        for tid in want_ids:
            proposals.track(tid)  # a clear error for an unknown id
    node_mask = np.zeros(proposals.n_nodes, bool)
    node_mask[proposals.node_indices(nodes)] = True
    out: dict[int, np.ndarray] = {}
    for t in proposals:
        if want_ids is not None and t.track_id not in want_ids:
            continue
        m = np.isfinite(t.coords).all(axis=-1) & node_mask[None, :]
        if want_frames is not None:
            rows = np.arange(t.start, t.stop)
            m &= np.isin(rows, list(want_frames))[:, None]
        if min_score is not None:
            m &= ~(effective_scores(t) < float(min_score))  # NaN (no score at all) passes
        if m.any():
            out[t.track_id] = m
    return out


@dataclass
class AcceptResult:
    """What :func:`accept` did.

    ``annotations`` / ``proposals``: the changes to each store; ``targets``: for each
    ``(proposal track id, frame)`` the annotation track id it went to; ``created``: annotation
    track ids made for unmatched proposals; ``count``: nodes accepted.
    """

    annotations: list[Change] = field(default_factory=list)
    proposals: list[Change] = field(default_factory=list)
    targets: dict[tuple[int, int], int] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    count: int = 0

    @property
    def tracks(self) -> list[int]:
        """Annotation track ids touched."""
        return sorted(set(self.targets.values()))


def _targets(
    annotations: AnnotationStore,
    proposals: AnnotationStore,
    picked: dict[int, np.ndarray],
    sigmas: np.ndarray,
    min_oks: float,
    by_track_id: bool,
) -> tuple[dict[tuple[int, int], int], list[int]]:
    """Annotation track for every picked (proposal track, frame); creates tracks for the unmatched."""
    by_frame: dict[int, list[int]] = {}
    for tid, m in picked.items():
        t = proposals.tracks[tid]
        for r in np.flatnonzero(m.any(axis=1)).tolist():
            by_frame.setdefault(t.start + r, []).append(tid)
    targets: dict[tuple[int, int], int] = {}
    unmatched: dict[int, list[int]] = {}
    for f, tids in sorted(by_frame.items()):
        rest = []
        for tid in tids:
            if by_track_id and tid in annotations.tracks:
                targets[(tid, f)] = tid
            else:
                rest.append(tid)
        if not rest:
            continue
        taken = {targets[(tid, f)] for tid in tids if (tid, f) in targets}
        cand = [t for t in annotations if t.track_id not in taken and t.start <= f < t.stop]
        k = annotations.n_nodes
        gt = np.stack([t.coords[f - t.start] for t in cand]) if cand else np.zeros((0, k, 2))
        dt = np.stack([proposals.tracks[tid].coords[f - proposals.tracks[tid].start] for tid in rest])
        if gt.shape[-1] == 2 and len(cand):
            for i, j, _ in match_by_oks(gt, dt, sigmas, min_oks):
                targets[(rest[j], f)] = cand[i].track_id
        for tid in rest:
            if (tid, f) not in targets:
                unmatched.setdefault(tid, []).append(f)
    created = []
    for tid, fs in unmatched.items():
        new = annotations.add_track(
            tid if tid not in annotations.tracks else None, name=proposals.tracks[tid].name, start=fs[0]
        )
        created.append(new.track_id)
        for f in fs:
            targets[(tid, f)] = new.track_id
    return targets, created


def accept(
    annotations: AnnotationStore,
    proposals: AnnotationStore,
    frames: int | Iterable[int] | None = None,
    track_ids: int | Iterable[int] | None = None,
    nodes: Any = None,
    min_score: float | None = None,
    remove: bool = True,
    by_track_id: bool = True,
    min_oks: float = 0.1,
    sigmas: Any = None,
) -> AcceptResult:
    """Make the picked proposals keys of ``annotations`` (see the module docstring).

    Parameters
    ----------
    annotations, proposals
        The stores; both are changed in place (proposals only with ``remove``).
    frames, track_ids, nodes, min_score
        What to accept (see :func:`selection`); default everything.
    remove
        Remove the accepted nodes from ``proposals``.
    by_track_id
        Send a proposal to the annotation instance with its track id when there is one.
    min_oks
        An OKS match must be above this; otherwise the proposal becomes a new instance.
    sigmas
        Per-node OKS constants (default :func:`~napari_keyskel.assist.matching.default_sigmas`).

    """
    from ..core import keyframes

    check_compatible(annotations, proposals)
    picked = selection(proposals, frames, track_ids, nodes, min_score)
    result = AcceptResult()
    if not picked:
        return result
    if annotations.n_frames is not None:
        for tid, m in picked.items():
            last = proposals.tracks[tid].start + int(np.flatnonzero(m.any(axis=1))[-1])
            annotations.check_frame(last)  # refuse before writing anything
    s = default_sigmas(annotations.skeleton.nodes, sigmas)
    targets, result.created = _targets(annotations, proposals, picked, s, float(min_oks), by_track_id)
    result.targets = targets
    written: dict[int, list[tuple[int, np.ndarray]]] = {}
    for tid, m in picked.items():
        p = proposals.tracks[tid]
        for r in np.flatnonzero(m.any(axis=1)).tolist():
            f, idx = p.start + r, np.flatnonzero(m[r])
            vis = np.where(p.visibility[r, idx] > 0, p.visibility[r, idx], VISIBLE)
            dest = targets[(tid, f)]
            annotations.set_points(f, dest, p.coords[r, idx], idx, vis, key=True, score=p.score[r, idx])
            written.setdefault(dest, []).append((f, idx))
            result.count += idx.size
            if remove:
                result.proposals.append(proposals.delete_points(f, tid, idx))
    pairs = sum(len(v) for v in written.values())
    if pairs > _FULL_REFRESH:
        result.annotations = keyframes.interpolate_all(annotations, tracks=sorted(written))
    else:
        for dest, items in written.items():
            for f, idx in items:
                result.annotations.append(keyframes.refresh(annotations, dest, f, idx))
    return result


def reject(
    proposals: AnnotationStore,
    frames: int | Iterable[int] | None = None,
    track_ids: int | Iterable[int] | None = None,
    nodes: Any = None,
    max_score: float | None = None,
) -> list[Change]:
    """Remove the picked proposals (see :func:`selection`); ``max_score``: only those below it."""
    picked = selection(proposals, frames, track_ids, nodes)
    changes = []
    for tid, m in picked.items():
        t = proposals.tracks[tid]
        if max_score is not None:
            m = m & (effective_scores(t) < float(max_score))
        for r in np.flatnonzero(m.any(axis=1)).tolist():
            changes.append(proposals.delete_points(t.start + r, tid, np.flatnonzero(m[r])))
    return changes
