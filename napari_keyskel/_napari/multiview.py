"""Multi-view annotation in one napari viewer: camera views side by side, triangulated together.

:class:`MultiViewSession` turns several image layers (one per camera, all of the same frames)
into views shown side by side with napari's grid mode (``viewer.canvas.grid``, one grid cell per view:
its image, its keyskel annotation layer, the edges and a *reprojection* layer). Instances are
shared by track id: an instance created in one view exists (empty) in every view and becomes the
current instance there too, so the next click in another camera places the same animal.

:meth:`MultiViewSession.triangulate` triangulates every node seen in >= 2 views
(:mod:`napari_keyskel.multiview.views`) and fills each view's reprojection layer:

- *proposals* (magenta rings, text ``"node?"``): where the view lacks a node that others saw;
  :meth:`~MultiViewSession.accept_proposals` places them as keys;
- *reprojections* of observed nodes (small crosses, text = the error in pixels, green below
  ``good`` px, orange below ``bad``, red above): the reprojection error per node.

Each view's annotation layer keeps the session as its owner's ``views`` (so an edit in one view
reaches the others through the owner's one redraw: :meth:`MultiViewSession.after_edit`). It uses
the owners' ``store``, ``points``, ``edges`` and ``apply``, and napari's public layer API.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core import keyframes
from ..errors import KeyskelError
from ..multiview.calibration import Calibration, read_calibration
from ..multiview.triangulate import reprojection_flags
from ..multiview.views import (
    MultiView,
    ViewResult,
    dataset_from_views,
    proposals_table,
    triangulate_views,
    views_from_dataset,
    views_from_stores,
    write_points_csv,
)
from .napari_private import unwrap_proxy
from .registry import owner_of

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Points

    from ..core.store import Change
    from .owner import LayerOwner

__all__ = ["MultiViewSession", "grid_of", "open_views"]
_PROPOSAL_COLOR = np.array([1.0, 0.0, 1.0, 1.0])
_ERROR_COLORS = np.array([[0.2, 0.85, 0.2, 1.0], [1.0, 0.6, 0.0, 1.0], [0.95, 0.1, 0.1, 1.0]])


def grid_of(viewer: Any) -> Any:
    """The grid settings: ``viewer.canvas.grid`` since napari 0.9, ``viewer.grid`` before."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid


class MultiViewSession:
    """Views of one scene in a viewer (see the module docstring).

    Parameters
    ----------
    viewer
        The napari viewer.
    images
        One image layer per camera (2D images, or (t, y, x) videos of the same frames).
    skeleton
        What :func:`napari_keyskel.api.add_skeleton_layer` accepts (a Skeleton, a preset name, a
        skeleton file): an annotation layer is made over each image. Ignored for the views given
        in ``layers``.
    layers
        Existing keyskel Points layers, one per image (``None`` entries get a new layer).
    names
        View names (default: the image names); views are matched to calibration cameras by name,
        else by order.
    calibration
        A :class:`~napari_keyskel.multiview.calibration.Calibration` or a TOML file path.

    """

    def __init__(
        self,
        viewer: napari.Viewer,
        images: Sequence[Image],
        skeleton: Any = None,
        layers: Sequence[Points | None] | None = None,
        names: Sequence[str] | None = None,
        calibration: Calibration | str | None = None,
    ) -> None:
        from .. import api

        self._viewer = weakref.ref(unwrap_proxy(viewer))
        images = [unwrap_proxy(im) for im in images]
        if len(images) < 2:
            raise KeyskelError(f"multi-view needs >= 2 image layers, got {len(images)}")
        layers = list(layers) if layers is not None else [None] * len(images)
        self.names = [str(n) for n in names] if names else [im.name for im in images]
        if len(set(self.names)) != len(self.names):
            raise KeyskelError(f"view names are not unique: {self.names}")
        self.images = images
        self.owners: list[LayerOwner] = []
        for im, ly, name in zip(images, layers, self.names):
            if ly is None:
                if skeleton is None:
                    raise KeyskelError("give a skeleton (or an annotation layer per view)")
                ly = api.add_skeleton_layer(self.viewer, skeleton, name=f"{name} keyskel", image_layer=im)
            owner = owner_of(ly)
            if owner is None:
                raise KeyskelError(f"layer {getattr(ly, 'name', ly)!r} is not a live keyskel layer")
            self.owners.append(owner)
        self.reprojection_layers = [
            self._add_reprojection_layer(o, n) for o, n in zip(self.owners, self.names)
        ]
        self.calibration: Calibration | None = None
        if calibration is not None:
            self.set_calibration(calibration)
        self.result: ViewResult | None = None
        #: The frame tables and metadata of the V7 item the views were opened from (None: new).
        self.source_frames: list[list[dict[str, Any]]] | None = None
        self.source_meta: dict[str, Any] | None = None
        self.good, self.bad = 1.0, 3.0
        self._syncing = False
        for owner in self.owners:
            owner.views = self
        self.arrange()

    @property
    def viewer(self) -> napari.Viewer:
        """The viewer (:class:`ReferenceError` once it is closed)."""
        viewer = self._viewer()
        if viewer is None:
            raise ReferenceError("the viewer of these views was closed")
        return viewer

    # -- layout -----------------------------------------------------------------------------------
    def _add_reprojection_layer(self, owner: LayerOwner, name: str) -> Points:
        p = owner.points
        layer = self.viewer.add_points(
            np.zeros((0, p.ndim)),
            name=f"{name} reprojection",
            scale=p.scale,
            translate=p.translate,
            size=9,
            face_color="transparent",
            border_width=0.15,
            features=pd.DataFrame({"instance": [], "node": [], "error": [], "proposal": [], "label": []}),
            text={"string": "{label}", "size": 8, "color": "white", "anchor": "upper_left"},
        )
        layer.editable = False
        return layer

    def view_layers(self, v: int) -> list[Any]:
        """The layers of view ``v`` from bottom to top: image, annotations, edges, reprojection."""
        c = self.owners[v]
        return [self.images[v], c.points, c.edges, self.reprojection_layers[v]]

    def arrange(self) -> None:
        """Put each view's layers together at the bottom of the layer list and turn on the grid."""
        layers = self.viewer.layers
        order = [ly for v in range(len(self.names)) for ly in self.view_layers(v)]
        for i, ly in enumerate(order):  # each move puts one layer at its place from the bottom
            layers.move(layers.index(ly), i)
        grid = grid_of(self.viewer)
        grid.stride = len(self.view_layers(0))
        grid.enabled = True
        self.viewer.reset_view()

    # -- shared instances -------------------------------------------------------------------------
    def after_edit(self, source: LayerOwner, changes: list[Change]) -> None:
        """An edit in one view (its owner's redraw): new instances appear in the others, empty."""
        if self._syncing:
            return
        self._syncing = True
        try:
            for owner in self.owners:
                if owner is source:
                    continue
                for ch in changes:
                    if ch.track_id in source.store.tracks and ch.track_id not in owner.store.tracks:
                        t = source.store.tracks[ch.track_id]
                        owner.store.add_track(ch.track_id, name=t.name, start=ch.start)
                # the instance the next click joins follows the view last edited
                if source.current_instance is not None:
                    owner.current_instance = source.current_instance
                owner.apply([])  # the layer's metadata follows the new (empty) tracks
        finally:
            self._syncing = False

    # -- triangulation ----------------------------------------------------------------------------
    def set_calibration(self, calibration: Calibration | str) -> Calibration:
        """Use ``calibration`` (or read it from a TOML file)."""
        cal = read_calibration(calibration) if isinstance(calibration, str) else calibration
        views_from_stores(self.names, [o.store for o in self.owners]).order_for(cal)  # checks
        self.calibration = cal
        return cal

    def triangulate(self, keys_only: bool = False) -> ViewResult:
        """Triangulate every node seen in >= 2 views; fill the reprojection layers."""
        if self.calibration is None:
            raise KeyskelError("load a calibration first (Anipose / aniposelib TOML)")
        mv = views_from_stores(self.names, [o.store for o in self.owners])
        self.result = triangulate_views(mv, self.calibration, keys_only=keys_only)
        for v in range(len(self.names)):
            self._fill_reprojection(v)
        return self.result

    def _fill_reprojection(self, v: int) -> None:
        res, owner, layer = self.result, self.owners[v], self.reprojection_layers[v]
        assert res is not None
        tri = res.triangulation
        shown = np.isfinite(tri.reprojected[v, ..., 0])
        f, i, k = np.nonzero(shown)
        yx = tri.reprojected[v, f, i, k][:, ::-1]
        err = tri.errors[v, f, i, k]
        prop = tri.proposals[v, f, i, k]
        fa = owner.store.frame_axis
        data = yx if fa is None else np.insert(yx, fa, res.frames[f].astype(float), axis=1)
        nodes = np.asarray(owner.store.skeleton.nodes, dtype=object)[k]
        labels = np.where(prop, [f"{n}?" for n in nodes], [f"{e:.1f}" for e in np.nan_to_num(err)])
        color = np.where(
            prop[:, None],
            _PROPOSAL_COLOR,
            _ERROR_COLORS[np.digitize(np.nan_to_num(err), [self.good, self.bad])],
        )
        layer.data = data
        layer.features = pd.DataFrame(
            {"instance": res.track_ids[i], "node": nodes, "error": err, "proposal": prop, "label": labels}
        )
        if len(data):
            layer.border_color = color
            layer.symbol = np.where(prop, "ring", "cross")
            layer.size = np.where(prop, 12.0, 6.0)
        layer.refresh()

    def frame_in_view(self, v: int) -> int | None:
        """The frame of view ``v`` in view (0 for a still image; None when time is displayed)."""
        owner = self.owners[v]
        fa = owner.store.frame_axis
        if fa is None:
            return 0
        dims, pts = self.viewer.dims, owner.points
        if dims.ndim - pts.ndim + fa in dims.displayed:
            return None
        return int(np.round(pts.world_to_data(dims.point)[fa]))

    def proposals(self, v: int) -> dict[str, np.ndarray]:
        """The proposals of view ``v`` (see :func:`napari_keyskel.multiview.views.proposals_table`)."""
        if self.result is None:
            raise KeyskelError("triangulate first")
        return proposals_table(self.result, v)

    def accept_proposals(self, v: int, frame: int | None = None) -> int:
        """Place the proposals of view ``v`` (on ``frame``, or all) as keys; returns how many."""
        table = self.proposals(v)
        owner = self.owners[v]
        m = np.ones(len(table["frame"]), bool) if frame is None else table["frame"] == frame
        changes = []
        for f, tid in sorted(set(zip(table["frame"][m].tolist(), table["track"][m].tolist()))):
            sel = m & (table["frame"] == f) & (table["track"] == tid)
            if tid not in owner.store.tracks:
                owner.store.add_track(tid, start=f)
            for k, yx in zip(table["node"][sel].tolist(), table["yx"][sel]):
                changes += keyframes.move_node(owner.store, f, tid, k, yx)
        owner.apply(changes)
        n = int(m.sum())
        if n:
            self.triangulate()
        return n

    def flags(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """Observations whose reprojection error exceeds ``threshold`` px (default ``bad``), worst first.

        Each is a dict ``view``, ``frame``, ``track``, ``node``, ``error``: what a review list shows.
        """
        if self.result is None:
            return []
        res = self.result
        out = []
        for v, (fi, ii, k), e in reprojection_flags(
            res.triangulation, self.bad if threshold is None else threshold
        ):
            out.append(
                {
                    "view": self.names[v],
                    "frame": int(res.frames[fi]),
                    "track": int(res.track_ids[ii]),
                    "node": self.owners[v].store.skeleton.nodes[k],
                    "error": e,
                }
            )
        return out

    def save_views(self, path: str, item: str | None = None) -> list[Path]:
        """Write the views as one multi-slot V7 item: a slot per view, animals linked by instance id.

        Views opened from a V7 item (:func:`open_views`) go back to its slots, as read; others
        become a new ``item`` (default: the first image's name) with a slot per view name.
        """
        from ..formats import write

        mv = MultiView(self.names, [o.store for o in self.owners], self.source_frames, self.source_meta)
        ds = dataset_from_views(mv, item=item or self.images[0].name)
        return write(ds, path, "darwin")

    def save_points(self, path: str) -> None:
        """Write the last triangulation as a CSV of frame, track, node, x, y, z, error."""
        if self.result is None:
            raise KeyskelError("triangulate first")
        res = self.result
        write_points_csv(path, res.store, res.triangulation.mean_error, res.frames, res.track_ids)


def open_views(
    viewer: napari.Viewer,
    path: str,
    images: Sequence[Image],
    skeleton: Any = None,
    calibration: Calibration | str | None = None,
    store_name: str | None = None,
) -> MultiViewSession:
    """Open a V7 item with one slot per camera as views over ``images`` (one per slot, in order).

    Each slot becomes an annotation layer over its image (frames = the slot's frames), the
    animals linked across slots by V7's ``instance_id`` (see
    :func:`napari_keyskel.multiview.views.views_from_dataset`).
    """
    from .. import api
    from ..formats import read

    mv = views_from_dataset(read(path, skeleton=skeleton), store_name)
    if len(images) != len(mv.names):
        raise KeyskelError(f"{path}: {len(mv.names)} slots {mv.names} but {len(images)} image layers")
    layers = [
        api.add_skeleton_layer(viewer, store, name=f"{name} keyskel", image_layer=im)
        for name, store, im in zip(mv.names, mv.stores, images)
    ]
    session = MultiViewSession(viewer, images, layers=layers, names=mv.names, calibration=calibration)
    session.source_frames, session.source_meta = mv.source_frames, mv.source_meta  # save_views writes back
    return session
