"""Run a pose model over every item of a dataset; each item's poses become its pending proposals.

Pure core (no Qt, no napari). :func:`iter_predict_items` goes through the chosen items of a
:class:`~napari_keyskel.dataset.Dataset` (all, or those with a status, e.g. ``new``) one at a
time: it opens the item's media lazily (:func:`napari_keyskel.media.open_media`; frames are read
one batch at a time, never the whole video), picks the frames (:data:`ITEM_WHERE`: every frame,
every k-th frame, the frames between keys, or the item's suggested frames), runs the model
(:func:`~.predict.iter_predict`; a top-down model crops the boxes of the item's annotations,
else the previous frame's poses, else a detector, else the whole frame), maps the keypoints onto
the item's skeleton (:func:`~.mapping.map_keypoints`) and keeps the poses, with their scores, as
the item's pending proposals (:func:`napari_keyskel.dataset.pending.write_pending`).

It is a generator: it yields an :class:`ItemProgress` after every batch, so a worker can show
progress and stop between batches (closing the generator stops the run; items finished stay
written). An item that fails (media missing or broken, no skeleton to map onto) is reported by
name in the summary and the run goes on with the others; it returns a :class:`RunSummary`. A
:class:`~.session.ModelError` (onnxruntime refusing the model's input) stops the run: it would
fail on every item alike.

Frames are the item's media frames, as its layer in the viewer numbers them. The skeleton is the
item's first 2-D annotation set, else the dataset's first skeleton (``skeleton`` names another).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.store import AnnotationStore
from ...core.wording import plural
from ...errors import KeyskelError
from .mapping import map_keypoints, saved_mapping
from .poses import link_tracks, poses_to_store
from .predict import BoxSource, PoseModel, iter_predict
from .session import ModelError
from .where import frames_between_keys

if TYPE_CHECKING:
    from ...dataset.model import Dataset, Item

__all__ = [
    "ITEM_WHERE",
    "ItemProgress",
    "ItemResult",
    "RunSummary",
    "item_frames",
    "items_to_run",
    "iter_predict_items",
    "predict_items",
]

#: Which frames of each item a model runs on.
ITEM_WHERE = {
    "all": "every frame (every k-th with a step)",
    "between_keys": "every frame between keys that has no key",
    "suggested": "the frames suggested for labelling",
}
#: Frames suggested per item when none are given (``where="suggested"``).
SUGGEST_N = 20


@dataclass(frozen=True)
class ItemProgress:
    """Where a run over items is: item ``index`` of ``n_items`` (``name``), ``done`` of ``total`` frames."""

    index: int
    n_items: int
    name: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """The part of the whole run done, in [0, 1] (items count equally)."""
        within = self.done / self.total if self.total else 1.0
        return (self.index + within) / max(self.n_items, 1)


@dataclass
class ItemResult:
    """What a run did on one item: frames run, instances and nodes proposed, the file written."""

    key: str
    name: str
    frames: list[int]
    instances: int = 0
    nodes: int = 0
    path: Path | None = None
    proposals: AnnotationStore | None = field(default=None, repr=False)


@dataclass
class RunSummary:
    """A run over items: the items run, those skipped (no frames) and those that failed, by name."""

    results: list[ItemResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def items_run(self) -> int:
        """Items the model ran on."""
        return len(self.results)

    @property
    def nodes(self) -> int:
        """Proposed nodes in all."""
        return sum(r.nodes for r in self.results)

    @property
    def instances(self) -> int:
        """Proposed instances in all."""
        return sum(r.instances for r in self.results)

    @property
    def frames(self) -> int:
        """Frames run in all."""
        return sum(len(r.frames) for r in self.results)

    def describe(self) -> str:
        """A few lines: items run, proposals made, skipped and failed items with the reasons."""
        lines = [
            f"{plural(self.items_run, 'item')} run ({plural(self.frames, 'frame')}): "
            f"{plural(self.nodes, 'proposed node')} in {plural(self.instances, 'instance')}"
            + (" (cancelled)" if self.cancelled else "")
        ]
        lines += [f"skipped {name}: {why}" for name, why in self.skipped]
        if self.failures:
            lines.append(f"{plural(len(self.failures), 'item')} failed:")
            lines += [f"  {name}: {why}" for name, why in self.failures]
        return "\n".join(lines)


def items_to_run(
    dataset: Dataset, status: str | Iterable[str] | None = None, items: Iterable[Any] | None = None
) -> list[Item]:
    """The items given (positions, keys, names; default all), those with ``status`` only."""
    chosen = list(dataset) if items is None else [dataset[dataset.index(w)] for w in items]
    if status is None:
        return chosen
    wanted = {status} if isinstance(status, str) else set(status)
    from ...dataset import STATUSES

    bad = sorted(wanted - set(STATUSES))
    if bad:
        raise KeyskelError(f"unknown status {bad[0]!r} (choose from {', '.join(STATUSES)})")
    return [it for it in chosen if dataset.status(it).status in wanted]


def item_frames(
    where: str,
    n_frames: int,
    *,
    every: int = 1,
    store: AnnotationStore | None = None,
    suggested: Iterable[int] | None = None,
) -> list[int]:
    """An item's frames for a choice of :data:`ITEM_WHERE` (``every``: keep every k-th of them)."""
    if where not in ITEM_WHERE:
        raise KeyskelError(f"where must be one of {', '.join(ITEM_WHERE)}, got {where!r}")
    if every < 1:
        raise KeyskelError(f"every must be at least 1, got {every}")
    if where == "all":
        out = list(range(n_frames))
    elif where == "between_keys":
        out = [] if store is None else frames_between_keys(store).tolist()
    else:
        out = sorted({int(f) for f in (suggested or ()) if 0 <= int(f) < n_frames})
    return out[::every]


def _target_store(dataset: Dataset, item: Item, source: Any, skeleton: str | None) -> AnnotationStore:
    """The item's annotation set the poses are mapped onto, on its media frames."""
    from ...dataset._frames import frame_numbers, renumber
    from ...media import to_layer_frames

    n = len(source)
    ann = dataset.annotations(item)
    nums = frame_numbers(ann)  # (the session's rule: the viewer shows the same frames)
    if nums is not None:
        ann = renumber(ann, nums, max(n, int(nums[-1]) + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # keys on frames the media does not show: the viewer says so
        ann = to_layer_frames(ann, source.frame_numbers)
    stores = [s for s in ann.stores if s.coord_ndim == 2 and s.frame_axis is not None]
    if skeleton is not None:
        stores = [s for s in stores if s.name == skeleton or s.skeleton.name == skeleton]
    if stores:
        out = stores[0].copy()
        out.n_frames = max(n, out.frame_range()[1])
        return out
    skeletons = dataset.skeletons()
    if skeleton is not None:
        skeletons = [sk for sk in skeletons if sk.name == skeleton]
    if not skeletons:
        what = f"no skeleton named {skeleton!r}" if skeleton else "no annotations and no skeleton"
        raise KeyskelError(f"{what} to map the model's keypoints onto (add a skeleton file to the dataset)")
    return AnnotationStore(skeletons[0], 2, 0, n, name=skeletons[0].name)


def _suggest(source: Any, store: AnnotationStore, n: int) -> list[int]:
    """``n`` frames of the media worth labelling, frames with keys left out."""
    from ...dataset.suggest import suggest_frames
    from .where import key_frames

    return [int(f) for f in suggest_frames(source, n, exclude=key_frames(store))]


def iter_predict_items(
    dataset: Dataset,
    model: PoseModel,
    *,
    where: str = "all",
    every: int = 1,
    status: str | Iterable[str] | None = None,
    items: Iterable[Any] | None = None,
    detector: PoseModel | None = None,
    mapping: Mapping[Any, Any] | None = None,
    skeleton: str | None = None,
    suggestions: Mapping[str, Iterable[int]] | None = None,
    n_suggest: int = SUGGEST_N,
    write: bool = True,
) -> Generator[ItemProgress, None, RunSummary]:
    """Run ``model`` over the items (module docstring); yields progress, returns a :class:`RunSummary`.

    Parameters
    ----------
    dataset, model
        The dataset; the :class:`~.predict.PoseModel`.
    where, every
        Frames of each item (:data:`ITEM_WHERE`), keeping every ``every``-th of them.
    status, items
        Only items with this status (or these); only these items (positions, keys, names).
    detector
        A YOLO-pose model giving boxes to a top-down ``model`` on frames without instances.
    mapping
        ``{skeleton node: model keypoint}``; default the one saved with the item's annotations,
        else by names, else by order.
    skeleton
        The annotation set (or skeleton) name to map onto (default the item's first).
    suggestions, n_suggest
        ``{item key: frames}`` for ``where="suggested"``; an item without gets ``n_suggest``
        frames from :func:`~napari_keyskel.dataset.suggest.suggest_frames`.
    write
        Keep each item's proposals as its pending proposals (else only in the results).

    """
    from ...dataset.pending import write_pending
    from ...media import open_media

    if where not in ITEM_WHERE:
        raise KeyskelError(f"where must be one of {', '.join(ITEM_WHERE)}, got {where!r}")
    if every < 1:
        raise KeyskelError(f"every must be at least 1, got {every}")
    todo = items_to_run(dataset, status, items)
    summary = RunSummary()
    label = Path(model.path).name
    for index, item in enumerate(todo):
        source = None
        try:
            yield ItemProgress(index, len(todo), item.name, 0, 0)
            item = dataset.header(item)  # (a V7 item's media is found in its header)
            if item.media is None:
                raise KeyskelError("no media found for it")
            if item.kind == "volume":
                raise KeyskelError("a volume (a model runs on videos and images)")
            source = open_media(item.media)
            target = _target_store(dataset, item, source, skeleton)
            n = len(source)
            sugg = None
            if where == "suggested":
                given = (suggestions or {}).get(item.key)
                sugg = list(given) if given is not None else _suggest(source, target, n_suggest)
            frames = item_frames(where, n, every=every, store=target, suggested=sugg)
            if not frames:
                why = "no frame between keys without a key" if where == "between_keys" else "no frames"
                summary.skipped.append((item.name, why))
                continue
            maps = map_keypoints(
                model.card.names, target.skeleton.nodes, mapping or saved_mapping(target.meta)
            )
            boxes = BoxSource(target, detector) if model.card.top_down else None
            gen = iter_predict(model, source, frames, boxes)
            try:
                while True:
                    done = next(gen)
                    yield ItemProgress(index, len(todo), item.name, done, len(frames))
            except StopIteration as stop:
                poses = stop.value
            finally:
                gen.close()
            first = max([*target.tracks, 0]) + 1
            store = poses_to_store(link_tracks(poses, first), target, maps)
            nodes = int(sum(np.isfinite(t.coords[..., 0]).sum() for t in store))
            path = write_pending(dataset, item, store, model=label) if write else None
            summary.results.append(ItemResult(item.key, item.name, frames, len(store), nodes, path, store))
        except GeneratorExit:
            summary.cancelled = True
            raise
        except ModelError:  # the model's fault, not the item's: every item would fail alike
            raise
        except (KeyskelError, OSError, ValueError, RuntimeError) as exc:  # this item only: go on
            summary.failures.append((item.name, str(exc) or type(exc).__name__))
        finally:
            if source is not None:
                with contextlib.suppress(Exception):
                    source.close()
    return summary


def predict_items(dataset: Dataset, model: PoseModel, **kwargs: Any) -> RunSummary:
    """:func:`iter_predict_items` run to the end."""
    gen = iter_predict_items(dataset, model, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
