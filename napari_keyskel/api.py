"""Scripting API: skeleton layers in a napari viewer, their stores, interpolation, open and save.

napari is imported lazily inside the functions, so ``import napari_keyskel.api`` stays light.

Examples
--------
>>> import napari
>>> from napari_keyskel import api
>>> viewer = napari.Viewer()
>>> image = viewer.add_image(video)                          # (t, y, x), may be a lazy dask array
>>> points = api.add_skeleton_layer(viewer, "mouse_topview", image_layer=image)
>>> api.set_node(points, frame=0, instance=1, node="snout", coords=(40.0, 52.5))
>>> api.interpolate(points, method="cubic")
>>> api.save_layer(points, "mouse.json", format="darwin")
>>> layers = api.open_annotations(viewer, "mouse.json")

"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .core import keyframes
from .core.annotation_set import AnnotationSet
from .core.history import History
from .core.interpolate import Method
from .core.plain import store_from_plain
from .core.presets import PRESETS, get_preset
from .core.skeleton import Skeleton
from .core.store import AnnotationStore, Change
from .errors import KeyskelError

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer, Points

    from ._napari.owner import LayerOwner

__all__ = [
    "add_skeleton_layer",
    "get_controller",
    "get_owner",
    "get_store",
    "interpolate",
    "open_annotations",
    "open_video",
    "predict",
    "predict_dataset",
    "save_layer",
    "set_node",
    "to_dataset",
]

SkeletonSource = Skeleton | AnnotationStore | str | PathLike[str]


def _resolve_source(source: SkeletonSource) -> Skeleton | AnnotationStore:
    if isinstance(source, (Skeleton, AnnotationStore)):
        return source
    if isinstance(source, str) and source in PRESETS:
        return get_preset(source)
    if isinstance(source, (str, PathLike)):
        return Skeleton.load(source)
    raise KeyskelError(
        "expected a Skeleton, an AnnotationStore, a preset name or a skeleton file, "
        f"got {type(source).__name__}"
    )


def add_skeleton_layer(
    viewer: napari.Viewer,
    source: SkeletonSource,
    name: str | None = None,
    image_layer: Layer | None = None,
) -> Points:
    """Add a live skeleton Points layer (and its edges layer) to ``viewer``.

    Parameters
    ----------
    viewer
        The napari viewer.
    source
        A :class:`Skeleton`, a preset name (``"coco_person"``, ``"hand21"``, ``"mouse_topview"``),
        a skeleton JSON file (empty annotations shaped like ``image_layer``, else like the viewer's
        dims), or an :class:`AnnotationStore` (its annotations; that store object is edited).
    name
        Layer name (default: the class name). It labels the layer only: the class (V7 class, COCO
        category) written to files is the skeleton's / store's name.
    image_layer
        The image the points annotate: its shape sets the frames, and the points layer shares its
        scale and translate.

    Returns
    -------
    napari.layers.Points
        The Points layer; ``get_store(layer)`` gives its store.

    """
    from ._napari.adding import empty_store

    obj = _resolve_source(source)
    store = obj if isinstance(obj, AnnotationStore) else empty_store(obj, viewer, image_layer)
    return _add_store(viewer, store, name, image_layer)


def _add_store(
    viewer: napari.Viewer,
    store: AnnotationStore,
    name: str | None,
    image_layer: Layer | None,
    dataset: AnnotationSet | None = None,
) -> Points:
    from ._napari.adding import add_store_layer

    points = add_store_layer(viewer, store, name, image_layer, dataset)
    _window_keys(viewer)
    return points


def _window_keys(viewer: napari.Viewer) -> None:
    """Give the window keyskel's save hooks (Ctrl-S ahead of napari's, the close prompt, autosave).

    They need Qt, so they come from :mod:`napari_keyskel._qt.save_hooks`; a viewer without a
    window (``show=False`` in a script) gets none.
    """
    from ._napari.napari_private import main_window

    if main_window(viewer) is None:
        return
    from ._qt.save_hooks import install

    install(viewer)


def get_owner(layer: Layer) -> LayerOwner | None:
    """The owner of a keyskel Points (or edges, or names) layer in a viewer, if any.

    The :class:`~napari_keyskel._napari.owner.LayerOwner` holds the layer's parts: ``store``,
    ``history``, ``view``, ``names`` (``show_names``), ``bindings``, ``save``, ``review``,
    ``proposals``, ``views``; ``record(label, fn)`` runs an edit as one undo step, redrawn once.
    """
    from ._napari.registry import owner_of

    return owner_of(layer)


#: The former name of :func:`get_owner` (the layer's "controller"), kept working.
get_controller = get_owner


def get_store(layer: Layer) -> AnnotationStore:
    """The annotation store of a keyskel Points layer (every frame; arrays shared with the layer)."""
    ctrl = get_owner(layer)
    if ctrl is not None:
        return ctrl.store
    meta = getattr(layer, "metadata", {}) or {}
    if "keyskel" not in meta:
        raise KeyskelError(
            f"layer {getattr(layer, 'name', layer)!r} is not a keyskel layer (no metadata['keyskel'])"
        )
    return store_from_plain(meta["keyskel"])


def interpolate(layer: Points, method: str | Method | None = None) -> list[Change]:
    """Re-interpolate every instance of the layer's store between its keys; the view follows.

    ``method`` (``"linear"``, ``"cubic"``, ``"hold"`` or a :class:`Method`) becomes the layer's
    method; by default the layer keeps its own. In a viewer this is one undo step.
    """
    ctrl = get_owner(layer)
    if ctrl is not None:
        return ctrl.interpolate(method)
    store = get_store(layer)
    changes = keyframes.interpolate_all(store, method)
    _keep_in_metadata(layer, store)
    return changes


def _keep_in_metadata(layer: Points, store: AnnotationStore) -> None:
    """A layer not (yet) in a viewer keeps its store in metadata: write the edited store back."""
    from ._napari.layerdata import sync_plain

    sync_plain(layer.metadata, store)


def set_node(
    layer: Points,
    frame: int,
    instance: int,
    node: int | str,
    coords: Sequence[float],
    create: bool = True,
) -> list[Change]:
    """Place one node of an instance on a frame as a key (its span re-interpolates); view follows.

    ``coords`` are store coordinates (the layer's without the frame axis). With ``create`` a
    missing instance is created as a stamp (``T``) or a click creates one: it lives to the end of
    the video (or the layer's set lifespan) and holds its last key's pose after it. On a layer not
    in a viewer the edit is kept in its metadata.
    """
    ctrl = get_controller(layer)
    store = ctrl.store if ctrl is not None else get_store(layer)
    tid = int(instance)
    state = (getattr(layer, "metadata", {}).get("keyskel") or {}).get("state") or {}
    lives = ctrl.new_instance_frames if ctrl is not None else state.get("new_instance_frames")

    def edit() -> list[Change]:
        if create and tid not in store.tracks:
            keyframes.start_instance(store, frame, tid, lives)
        return keyframes.move_nodes(store, frame, tid, [node], np.asarray(coords, float)[None])

    if ctrl is not None:
        return ctrl.record(f"set {node}", edit, [tid] if tid in store.tracks else [])
    with History(store).edit("set node", [tid] if tid in store.tracks else []):  # undone on error
        changes = edit()
    _keep_in_metadata(layer, store)
    return changes


def to_dataset(layers: Points | Sequence[Points]) -> AnnotationSet:
    """A :class:`AnnotationSet` of one or more keyskel (or plain, with a ``node`` feature) Points layers."""
    from ._napari.io import dataset_from_layer_data

    if not isinstance(layers, Sequence):
        layers = [layers]
    return dataset_from_layer_data([ly.as_layer_data_tuple() for ly in layers])


def _viewer_of(layers: Sequence[Points]) -> napari.Viewer | None:
    for ly in layers:
        ctrl = get_owner(ly)
        if ctrl is not None:
            return ctrl.viewer
    return None


def save_layer(
    layers: Points | Sequence[Points],
    path: str | PathLike[str],
    format: str = "darwin",
    *,
    video: Any = None,
) -> list[Path]:
    """Write one or more Points layers; returns the files written.

    Parameters
    ----------
    layers
        keyskel (or plain, with a ``node`` feature) Points layers.
    path
        The file (for ``"yolo"``: the dataset folder, or its ``data.yaml``).
    format
        ``"darwin"`` (V7 Darwin JSON 2.0), ``"coco"`` keypoints, or a format of the sleap-io bridge
        (the names ``keyskel convert --to`` takes): ``"sleap"`` (.slp), ``"dlc"`` (DeepLabCut
        ``.csv`` or ``.h5``), ``"yolo"`` (Ultralytics YOLO-pose), ``"nwb"``, ``"labelstudio"``;
        those need ``pip install "napari-keyskel[sleap]"``.
    video
        sleap-io formats only, like ``keyskel convert --video``: the frames' video or image files
        (a path or a list of image paths; layer frame ``f`` is its frame ``f``). YOLO-pose stores
        the images, so it needs them; DeepLabCut writes them when it can. By default the videos
        the layers' frames name are used when they can be read, else the image the layers
        annotate in their viewer when it was opened from a file (see
        :func:`napari_keyskel._napari.sleap_io_hooks.image_video`).

    Raises :class:`KeyskelError` (nothing written) when the layers cannot be saved.

    """
    from ._napari.io import FORMAT_NAMES
    from .formats import write
    from .formats.sleap import SLEAP_FORMATS, import_sleap_io, write_sleap

    if not isinstance(layers, Sequence):
        layers = [layers]
    if format in SLEAP_FORMATS:
        import_sleap_io(path)  # first: without the extra, say what to install
        dataset = to_dataset(layers)
        fallback = None
        if video is None:
            from ._napari.sleap_io_hooks import image_video

            fallback = image_video(_viewer_of(layers), dataset)
        return [Path(p) for p in write_sleap(dataset, path, format, video=video, fallback_video=fallback)]
    if format not in FORMAT_NAMES:
        raise KeyskelError(
            f"unknown format {format!r} (choose from {', '.join([*FORMAT_NAMES, *SLEAP_FORMATS])})"
        )
    if video is not None:
        raise KeyskelError(
            f"video= applies to the sleap-io formats ({', '.join(SLEAP_FORMATS)}), not {format!r}"
        )
    checked: Any = format  # one of the format names
    return [Path(p) for p in write(to_dataset(layers), path, checked)]


def open_video(
    viewer: napari.Viewer,
    path: str | PathLike[str] | Sequence[str | PathLike[str]],
    stride: int = 1,
    fps: float | None = None,
    name: str | None = None,
) -> Layer:
    """Open a video (or an image folder / glob / list) lazily as an Image layer of ``viewer``.

    The layer's data is a :class:`napari_keyskel.media.MediaSource`: frame-accurate, decoding
    only the frames shown (plus a few read ahead), with a bounded cache. ``stride`` shows every
    Nth frame and ``fps`` frames at a target rate instead; annotations made on the layer keep the
    video's own frame numbers in the files they are saved to (``frame=`` in this API is the
    slider's frame). Raises :class:`~napari_keyskel.errors.FormatError` naming the file when it
    cannot be read.
    """
    from ._napari.media_link import open_media_layer

    image = open_media_layer(viewer, path, stride=stride, fps=fps, name=name)
    _window_keys(viewer)
    return image


def _media_layer(viewer: napari.Viewer, dataset: AnnotationSet, path: Any, media: Any) -> Layer | None:
    """The media layer for ``open_annotations(media=...)``; warns (naming the places) if not found."""
    import warnings

    from ._napari.media_link import _shown_already, media_layer_tuple, source_for
    from .errors import FormatWarning
    from .media import MediaSource
    from .media.locate import locate_media

    if media is not None and not isinstance(media, (str, PathLike, MediaSource)):
        return media  # an Image layer
    if media is None:
        plan = locate_media(dataset, path)
        if not plan.named:  # the file names no media file
            return None
        shown = _shown_already(viewer, plan)
        if shown is not None:
            return shown
    try:
        source = media if isinstance(media, MediaSource) else source_for(dataset, path, media)
    except KeyskelError as exc:
        warnings.warn(FormatWarning(f"no media shown: {exc}", path), stacklevel=3)
        return None
    data, attrs, _ = media_layer_tuple(source)
    return viewer.add_image(data, **attrs)


def open_annotations(
    viewer: napari.Viewer,
    path: str | PathLike[str],
    skeleton: Skeleton | str | None = None,
    format: str | None = None,
    image_layer: Layer | None = None,
    media: Any = None,
) -> list[Points]:
    """Read an annotation file and add one live Points layer per annotation set, over its media.

    ``path``: a Darwin file or folder, a COCO file, or a file of the sleap-io bridge (SLEAP
    ``.slp``, DeepLabCut ``.csv`` / ``.h5``, a YOLO-pose folder or its ``data.yaml``, NWB, Label
    Studio JSON; ``pip install "napari-keyskel[sleap]"``). ``format`` (``"darwin"``, ``"coco"``
    or one of ``SLEAP_FORMATS``) is detected when ``None``.

    ``media``: ``None`` opens the images or video the file names (beside it, in ``images/``, in
    darwin-py's local layout, the same name beside a moved file), or uses the viewer's layer that
    shows them already; a video, image folder or folder to search; a media Image layer (say one
    opened with ``open_video(..., stride=5)``: a file keyed at frames 0, 5, 10 lands on its layer
    frames 0, 1, 2); ``False`` opens none. Media not found gives a
    :class:`~napari_keyskel.errors.FormatWarning` naming what was looked for; the annotations open
    anyway, and the media layer always sits directly below them. ``image_layer`` (an older
    spelling) is a plain layer the points share scale and frames with.

    Raises :class:`KeyskelError` (no layer added) when the file cannot be read.
    """
    from .formats import FORMATS, read
    from .formats.sleap import SLEAP_FORMATS

    sk = _resolve_source(skeleton) if isinstance(skeleton, str) else skeleton
    if isinstance(sk, AnnotationStore):
        sk = sk.skeleton
    if format is not None and format not in (*FORMATS, *SLEAP_FORMATS):
        raise KeyskelError(f"unknown format {format!r} (choose from {', '.join([*FORMATS, *SLEAP_FORMATS])})")
    checked: Any = format
    dataset = read(path, skeleton=sk, format=checked)
    from ._napari.media_link import connect, fit_to_media, is_media_layer

    connect(viewer)
    image = (
        image_layer
        if media is False or image_layer is not None
        else _media_layer(viewer, dataset, path, media)
    )
    if image is not None and is_media_layer(image):
        dataset = fit_to_media(dataset, image)
    return [_add_store(viewer, store, None, image, dataset) for store in dataset.stores]


def _load_model(model: Any, names: Any, conf: float, device: str) -> Any:
    """A :class:`~napari_keyskel.assist.models.PoseModel` (given, or loaded from a path); None stays None."""
    from .assist.models import PoseModel

    if isinstance(model, PoseModel) or model is None:
        return model
    kw: dict[str, Any] = {}
    if isinstance(names, (str, PathLike)):
        kw["names_file"] = names
    elif names is not None:
        kw["names"] = list(names)
    return PoseModel(model, conf=conf, device=device, **kw)


def predict(
    layer: Points,
    model: Any,
    frames: Any = None,
    *,
    image: Any = None,
    names: Sequence[str] | str | PathLike[str] | None = None,
    mapping: dict[str, Any] | None = None,
    detector: Any = None,
    conf: float = 0.25,
    device: str = "auto",
) -> AnnotationStore:
    """Run a pose model on frames of the media a keyskel layer annotates; the poses become proposals.

    Parameters
    ----------
    layer
        A keyskel Points layer (2-D nodes over a ``(t, y, x[, rgb])`` video or stack).
    model
        An ONNX file (Ultralytics YOLO-pose, RTMPose/SimCC or heatmaps) or a
        :class:`~napari_keyskel.assist.models.PoseModel`.
    frames
        Frame numbers (an int or an iterable), or ``"view"``, ``"between_keys"`` (every frame
        between keys that has no key), ``"all"``; default every frame. Frames are read one at a
        time.
    image
        The frames (an Image layer or an array); default the media the layer annotates.
    names
        The model's keypoint names (a list, or a names/skeleton file) when it carries none.
    mapping
        ``{skeleton node: model keypoint}``; it is saved with the layer (``store.meta``) and
        used next time. Default: the saved one, else by names, else by order.
    detector
        A YOLO-pose model (file or ``PoseModel``) giving boxes to a top-down model where the
        layer has no instance on a frame (before that: the previous frame's poses).
    conf, device
        YOLO detection threshold; ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    AnnotationStore
        The proposals store: in a viewer, the layer's proposals layer's (the proposals on
        ``frames`` are replaced by the model's); a layer outside a viewer gets a new one.

    """
    from .assist.models import BoxSource, map_keypoints, save_mapping, saved_mapping
    from .assist.models import predict as run_all
    from .assist.models.poses import link_tracks, poses_to_store
    from .assist.models.predict import check_frames, n_frames
    from .assist.models.where import frames_for

    pm, det = _load_model(model, names, conf, device), _load_model(detector, None, conf, device)
    ctrl = get_controller(layer)
    store = ctrl.store if ctrl is not None else get_store(layer)
    maps = map_keypoints(pm.card.names, store.skeleton.nodes, mapping or saved_mapping(store.meta))
    if mapping:
        save_mapping(store.meta, maps)
    if ctrl is None:
        if image is None:
            raise KeyskelError("a layer outside a viewer needs image= (the frames)")
        from ._napari.model_run import layer_data

        data = layer_data(image)
    else:
        from ._napari.model_run import media_data

        data = media_data(ctrl, image)
    n = n_frames(data)
    if isinstance(frames, str):
        view = ctrl.frame_in_view() if ctrl is not None else None
        todo = frames_for(frames, n, store=store, frame=view)
    else:
        todo = check_frames(frames, n)
    if ctrl is None:
        boxes = BoxSource(store, det) if pm.card.top_down else None
        poses = run_all(pm, data, todo, boxes)
        first = max([*store.tracks, 0]) + 1
        return poses_to_store(link_tracks(poses, first), store, maps)
    from ._napari import model_run

    gen = model_run.run(ctrl, pm, todo, data, det)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        poses = stop.value
    pl = model_run.proposals_layer(ctrl)
    model_run.add_poses(pl, poses, todo, maps, label=f"model {Path(pm.path).name}")
    return pl.store


def predict_dataset(
    dataset: Any,
    model: Any,
    where: str = "all",
    *,
    every: int = 1,
    status: str | Sequence[str] | None = None,
    items: Sequence[Any] | None = None,
    names: Sequence[str] | str | PathLike[str] | None = None,
    mapping: dict[str, Any] | None = None,
    detector: Any = None,
    skeleton: str | None = None,
    conf: float = 0.25,
    device: str = "auto",
) -> Any:
    """Run a pose model over the items of a dataset; each item's poses become its pending proposals.

    They are kept beside the dataset (:mod:`napari_keyskel.dataset.pending`) and appear as
    proposals when the item is opened in the viewer (the Dataset dock), to accept or reject.

    Parameters
    ----------
    dataset
        A :class:`~napari_keyskel.dataset.Dataset`, or a path to open as one.
    model, names, mapping, detector, conf, device
        As for :func:`predict`.
    where, every
        ``"all"`` (every frame), ``"between_keys"`` or ``"suggested"``; keep every ``every``-th.
    status, items
        Only the items with this status (e.g. ``"new"``); only these items (positions, keys, names).
    skeleton
        The annotation set to map onto (default each item's first, else the dataset's skeleton).

    Returns
    -------
    RunSummary
        Items run, proposals made, items skipped and those that failed (by name, with the reason):
        :class:`~napari_keyskel.assist.models.over_items.RunSummary`.

    """
    from .assist.models.over_items import predict_items
    from .dataset import Dataset, open_dataset

    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    return predict_items(
        ds,
        _load_model(model, names, conf, device),
        where=where,
        every=every,
        status=status,
        items=items,
        detector=_load_model(detector, None, conf, device),
        mapping=mapping,
        skeleton=skeleton,
    )
