"""The seam between a media layer and its annotation layer (napari glue, no Qt).

- A media layer is an Image layer whose ``data`` is a :class:`~napari_keyskel.media.MediaSource`
  and whose ``metadata["keyskel_media"]`` is ``source.describe()``.
- An annotation Points layer names what it annotates in
  ``metadata["keyskel"]["media"] = {"path": <absolute media path>, "layer": <image layer name>}``.
- :func:`link` records that, shares scale / translate / axis labels, puts the media's frame table
  on the annotation layer when it has none, and puts the media directly below its annotations.
  :func:`connect` does the same whenever either layer is added, so the result does not depend on
  which was opened first.
- :func:`with_media` is what the annotation readers call: it finds the images or video a file
  names (:func:`napari_keyskel.media.locate.locate_media`) and returns the media layer to add
  under the points, or shows a notification naming what was looked for with a *Locate media…*
  action (the annotations open anyway).

Propagation, models and datasets read frames through ``image_layer.data`` (the source), never
``np.asarray(layer.data)`` on a video.
"""

from __future__ import annotations

import os
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..errors import FormatWarning, KeyskelError
from ..media import MediaSource, fit_to_frames, frames_table, open_media
from ..media.locate import MediaPlan, locate_media
from .layerdata import LINK_KEY

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Points

__all__ = [
    "MEDIA_KEY",
    "annotation_layers_of",
    "connect",
    "fit_to_media",
    "is_media_layer",
    "link",
    "media_info",
    "media_layer_of",
    "media_layer_tuple",
    "media_source",
    "open_media_layer",
    "open_plan",
    "set_media_info",
    "source_for",
    "with_media",
]

MEDIA_KEY = "keyskel_media"
LayerTuple = tuple[Any, dict[str, Any], str]
_CONNECTED: dict[int, weakref.ref[Any]] = {}


# -- the two sides ---------------------------------------------------------------------------------
def media_layer_tuple(source: MediaSource, name: str | None = None, **attrs: Any) -> LayerTuple:
    """A napari Image ``LayerDataTuple`` showing ``source`` (a frame that fails shows black + warns)."""
    source.strict = False
    meta = {MEDIA_KEY: source.describe()}
    out: dict[str, Any] = {
        "name": name or Path(source.path).name,
        "metadata": meta,
        "rgb": source.rgb,
        "axis_labels": ("t", "y", "x"),
    }
    if source.dtype != np.uint8 and source.dtype.kind in "uif":
        first = np.asarray(source.frame(0))
        lo, hi = float(first.min()), float(first.max())
        out["contrast_limits"] = [lo, hi if hi > lo else lo + 1]
    out.update(attrs)
    return source, out, "image"


def is_media_layer(layer: Any) -> bool:
    """Whether ``layer`` is an Image layer showing a media source."""
    return getattr(layer, "_type_string", "") == "image" and MEDIA_KEY in getattr(layer, "metadata", {})


def media_source(layer: Any) -> MediaSource | None:
    """The :class:`MediaSource` a media layer shows, else ``None``."""
    data = getattr(layer, "data", None)
    return data if isinstance(data, MediaSource) else None


def media_info(points: Any) -> dict[str, Any] | None:
    """``{"path", "layer"}`` of the media an annotation layer annotates, if recorded."""
    if getattr(points, "_type_string", "") != "points":  # (an edges layer may share the metadata)
        return None
    info = (getattr(points, "metadata", {}).get("keyskel") or {}).get("media")
    return info if isinstance(info, dict) else None


def set_media_info(metadata: dict[str, Any], path: str | os.PathLike[str], layer_name: str) -> None:
    """Record in an annotation layer's metadata which media it annotates."""
    info = {"path": str(Path(path).absolute()), "layer": str(layer_name)}
    metadata.setdefault("keyskel", {})["media"] = info


def _media_path(layer: Any) -> str | None:
    desc = layer.metadata.get(MEDIA_KEY) or {}
    return str(desc.get("path")) if desc.get("path") else None


def media_layer_of(points: Points, viewer: napari.Viewer) -> Image | None:
    """The media layer ``points`` annotates in ``viewer``: by path, else by name; ``None`` if absent."""
    info = media_info(points)
    if info is None:
        return None
    media = [ly for ly in viewer.layers if is_media_layer(ly)]
    by_path = [ly for ly in media if _media_path(ly) == info.get("path")]
    if len(by_path) == 1:
        return by_path[0]
    by_name = [ly for ly in (by_path or media) if ly.name == info.get("layer")]
    return by_name[0] if by_name else (by_path[0] if by_path else None)


def annotation_layers_of(image: Image, viewer: napari.Viewer) -> list[Points]:
    """The annotation layers of ``viewer`` that annotate the media layer ``image``."""
    return [ly for ly in viewer.layers if media_info(ly) is not None and media_layer_of(ly, viewer) is image]


# -- linking -----------------------------------------------------------------------------------
def link(viewer: napari.Viewer, points: Points, image: Image) -> None:
    """Make ``image`` the media of ``points`` (see the module docstring)."""
    desc = image.metadata.get(MEDIA_KEY) or {}
    set_media_info(points.metadata, desc.get("path") or image.name, image.name)
    nd = points.ndim
    points.scale = np.asarray(image.scale)[-nd:]
    points.translate = np.asarray(image.translate)[-nd:]
    points.axis_labels = tuple(image.axis_labels)[-nd:]
    ks = points.metadata.get("keyskel") or {}
    dataset = ks.get("dataset")
    if desc and not (isinstance(dataset, dict) and dataset.get("frames")):
        ks["dataset"] = {**(dataset or {}), "frames": frames_table(desc)}
    _order(viewer, points, image)


def _order(viewer: napari.Viewer, points: Points, image: Image) -> None:
    layers = viewer.layers
    if image not in layers or points not in layers:
        return
    i, j = layers.index(image), layers.index(points)
    if i != j - 1:
        layers.move(i, j)  # "before j" in the list as it was: directly below the points


def connect(viewer: napari.Viewer) -> None:
    """Link media and annotation layers whenever either is added to ``viewer``; idempotent."""
    ref = _CONNECTED.get(id(viewer))
    if ref is not None and ref() is viewer:
        return
    for key in [k for k, r in _CONNECTED.items() if r() is None]:
        del _CONNECTED[key]
    _CONNECTED[id(viewer)] = weakref.ref(viewer)
    viewer.layers.events.inserted.connect(_on_inserted)
    for layer in list(viewer.layers):
        _settle(viewer, layer)


def _viewer_of(layers: Any) -> Any | None:
    for ref in list(_CONNECTED.values()):
        v = ref()
        if v is not None and v.layers is layers:
            return v
    return None


def _on_inserted(event: Any) -> None:
    viewer = _viewer_of(event.source)
    if viewer is not None:
        _settle(viewer, event.value)


def _settle(viewer: napari.Viewer, layer: Any) -> None:
    if is_media_layer(layer):
        for points in annotation_layers_of(layer, viewer):
            link(viewer, points, layer)
    elif media_info(layer) is not None:
        image = media_layer_of(layer, viewer)
        if image is not None:
            link(viewer, layer, image)


# -- opening ----------------------------------------------------------------------------------
def open_media_layer(
    viewer: napari.Viewer, path: Any, *, stride: int = 1, fps: float | None = None, name: str | None = None
) -> Image:
    """Open a video or image set lazily as a media layer of ``viewer`` (below nothing in particular)."""
    connect(viewer)
    source = open_media(path, stride=stride, fps=fps)
    data, attrs, _ = media_layer_tuple(source, name)
    return viewer.add_image(data, **attrs)


def source_for(dataset: AnnotationSet, annotation_path: Any, where: Any = None) -> MediaSource:
    """The media of ``dataset``, opened lazily (raises :class:`KeyskelError` naming what is missing).

    ``where``: ``None`` finds what the file names beside it (see :func:`locate_media`); a folder is
    searched for those names (an image folder whose names do not match is opened as it is); a
    video file is opened on the frames the file's frame table lists.
    """
    target = None if where is None else Path(where).expanduser()
    if target is None or target.is_dir():
        plan = locate_media(dataset, annotation_path, root=target)
        if plan.found:
            return open_plan(plan)
        if target is None or not _is_image_folder(target):
            place = "" if target is None else f" under {target}"
            if plan.missing:
                raise KeyskelError(f"media not found{place}: {plan.describe_missing()}")
            raise KeyskelError(plan.reason or "no media")
        return open_media(target)
    one = len({fr.get("item") for fr in dataset.frames}) == 1
    frames = [int(fr.get("frame", f)) for f, fr in enumerate(dataset.frames)] if one else None
    return open_media(target, frames=frames if dataset.frames else None)


def _is_image_folder(p: Path) -> bool:
    from ..media import media_kind

    return media_kind(p) == "images"


def open_plan(plan: MediaPlan) -> MediaSource:
    """The media source of a found :class:`MediaPlan` (its frames in the annotation file's order)."""
    if plan.kind == "video":
        return open_media(plan.path, frames=plan.frames)  # type: ignore[arg-type]
    if plan.kind == "images":
        return open_media(plan.files)
    raise KeyskelError(plan.reason or "no media found")


def with_media(
    dataset: AnnotationSet, path: Any, point_tuples: list[LayerTuple], root: Any = None, notify: bool = True
) -> list[LayerTuple]:
    """The points layers of an annotation file, with the media it names first (so below them).

    When the media cannot be found or read, a notification says what was looked for (with a
    *Locate media…* action) and the points come alone.
    """
    viewer = _connect_current_viewer()
    plan = locate_media(dataset, path, root)
    if not plan.named:  # made in memory: there is nothing to look for
        return point_tuples
    shown = _shown_already(viewer, plan)
    if shown is not None:  # the video is open already: the points go onto its frames
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FormatWarning)
                tuples = _onto_layer(dataset, shown)
        except KeyskelError as exc:
            _warn(f"{Path(str(path)).name} cannot go onto {shown.name!r}: {exc}")
            return point_tuples
        for w in caught:
            _warn(str(w.message))
        return tuples
    problem = None
    source = None
    if plan.found:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FormatWarning)
                source = open_plan(plan)
            for w in caught:
                _warn(str(w.message))
        except KeyskelError as exc:
            problem = f"cannot show the media of {Path(str(path)).name}: {exc}"
    elif plan.missing:
        problem = f"media of {Path(str(path)).name} not found: {plan.describe_missing()}"
    elif plan.reason:
        problem = f"no media shown for {Path(str(path)).name}: {plan.reason}"
    if source is None:
        if problem and notify:
            _warn(problem, point_tuples)
        return point_tuples
    name = Path(source.path).name
    for _, attrs, _ in point_tuples:
        set_media_info(attrs["metadata"], source.path, name)
    return [media_layer_tuple(source, name), *point_tuples]


def _shown_already(viewer: Any, plan: MediaPlan) -> Image | None:
    """A media layer of ``viewer`` already showing the plan's video (or its very images)."""
    if viewer is None or not plan.found:
        return None
    for layer in viewer.layers:
        src = media_source(layer) if is_media_layer(layer) else None
        if src is None:
            continue
        if plan.kind == "video" and src.kind == "video" and Path(src.path) == Path(plan.path or ""):
            return layer
        if plan.kind == "images" and src.kind == "images" and list(getattr(src, "files", [])) == plan.files:
            return layer
    return None


def _onto_layer(dataset: AnnotationSet, image: Image) -> list[LayerTuple]:
    """Point layer tuples of ``dataset`` fitted to the frames ``image`` shows, linked to it."""
    from .layerdata import dataset_layer_tuples

    fitted = fit_to_media(dataset, image)
    tuples = dataset_layer_tuples(fitted)
    for _, attrs, _ in tuples:
        set_media_info(attrs["metadata"], image.metadata[MEDIA_KEY]["path"], image.name)
    return tuples


def fit_to_media(dataset: AnnotationSet, image: Image) -> AnnotationSet:
    """``dataset`` on the frames a media layer shows (a stride layer, or a file saved from one)."""
    desc = image.metadata.get(MEDIA_KEY) or {}
    if desc.get("kind") != "video":
        return dataset
    items = {fr.get("item") for fr in dataset.frames}
    if len(items) > 1:
        raise KeyskelError(f"the file names {len(items)} items; the layer {image.name!r} shows one video")
    return fit_to_frames(dataset, desc.get("frame_numbers") or [], table=frames_table(desc))


def _connect_current_viewer() -> Any:
    import napari

    viewer = napari.current_viewer()
    if viewer is not None:
        connect(viewer)
    return viewer


def _warn(message: str, point_tuples: list[LayerTuple] | None = None) -> None:
    from napari.utils.notifications import Notification, notification_manager

    actions: Any = ()
    if point_tuples:
        links = [attrs["metadata"].get(LINK_KEY) for _, attrs, _ in point_tuples]
        actions = (("Locate media…", lambda *_: locate_media_action(links)),)
    notification_manager.dispatch(Notification(f"keyskel: {message}", "warning", actions=actions))


def ask_media_path() -> str | None:
    """Ask the person for a video, an image folder or a folder to search (a magicgui dialog)."""
    from magicgui.widgets import request_values

    got = request_values(
        title="Locate media",
        media={"annotation": Path, "label": "video or images folder", "options": {"mode": "r"}},
    )
    return None if not got or not got.get("media") else str(got["media"])


def locate_media_action(links: list[Any], chosen: str | None = None) -> Image | None:
    """*Locate media…*: open what the person picks under the annotation layers made with ``links``."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        return None
    points = [ly for ly in viewer.layers if ly.metadata.get(LINK_KEY) in links and media_info(ly) is None]
    points = points or [ly for ly in viewer.layers if ly.metadata.get(LINK_KEY) in links]
    chosen = chosen if chosen is not None else ask_media_path()
    if not chosen or not points:
        return None
    from .layerdata import dataset_from_plain

    dataset = dataset_from_plain([points[0].metadata["keyskel"]])
    try:
        source = source_for(dataset, dataset.source, chosen)
    except KeyskelError as exc:
        _warn(str(exc))
        return None
    connect(viewer)
    data, attrs, _ = media_layer_tuple(source)
    for ly in points:
        set_media_info(ly.metadata, source.path, attrs["name"])
    return viewer.add_image(data, **attrs)
