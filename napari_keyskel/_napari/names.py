"""Node names that never overlap: a small Points layer of labels placed beside the points.

napari's layer ``text`` draws every label with one translation, so the names of close nodes (a
mouse's snout, ears and neck) pile up. :class:`NodeNames` instead keeps a non-editable Points
layer (``"<points name> names"``) owned by the edit session, like its edges layer: invisible
markers (size 0, transparent) at label centres, each with its node's name as ``text`` anchored at
its centre. The centres come from :func:`napari_keyskel._napari.labels.place_labels`, in screen pixels of
the current camera zoom, for the points of the frame (and slice) in view; a label that finds no
free place is left out rather than drawn over another.

The layer exists only while names are shown. It is recomputed when the frame in view changes,
after every edit (the session's ``changed``), when the slice of a 3D skeleton changes, while a
node is dragged (at most every :data:`DRAG_INTERVAL` seconds; exactly at release), on
``viewer.camera.events.zoom`` and when names are switched on. It is removed with the annotation
layer, or when names are switched off; removing it from the layer list switches names off. In
napari's 3D view (or with the frame axis displayed) screen boxes are not fixed, so the names
layer empties and the Points layer's own ``text`` shows the names instead, as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .labels import label_half_sizes, place_labels

if TYPE_CHECKING:
    from napari.layers import Points

    from .session import EditSession

__all__ = ["DRAG_INTERVAL", "FONT_SIZE", "NodeNames", "camera_of"]

#: napari text size of the names (points; about 10.7 pixels high).
FONT_SIZE = 8
#: Pixels between a point's marker and its name.
GAP = 2.0
#: Half width in pixels of an edge line, kept clear of names where there is room.
EDGE_RADIUS = 1.5
#: While a node is dragged, its name follows at most this often (seconds); always at release.
DRAG_INTERVAL = 0.05
#: Metadata key of a names layer: the name of the Points layer it labels.
NAMES_OF = "keyskel_names_of"


def camera_of(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class NodeNames:
    """The names layer of one :class:`~.session.EditSession` (created while names are shown).

    Attributes
    ----------
    layer
        The names Points layer, or None while names are hidden.
    placed
        Layer rows of the annotation Points layer whose name is drawn (last placement).
    seconds
        Wall time of the last placement (computing and writing the layer).

    """

    def __init__(self, session: EditSession) -> None:
        self.session = session
        self.layer: Points | None = None
        self.placed = np.zeros(0, np.intp)
        self.seconds = 0.0
        self._last = 0.0
        self._removing = False
        self._depth: tuple[int, ...] = ()  # the slice in view of a 3D skeleton (its depth indices)

    @property
    def shown(self) -> bool:
        return self.layer is not None

    # -- lifecycle ------------------------------------------------------------------------------
    def show(self) -> None:
        """Create the names layer (above the annotation and edges layers) and place the names."""
        if self.layer is not None:
            return
        from napari.layers import Points

        s = self.session
        p, viewer = s.points, s.viewer
        layer = Points(
            np.zeros((0, p.ndim)),
            ndim=p.ndim,
            name=f"{p.name} names",
            size=0,
            face_color="transparent",
            border_width=0,
            border_color="transparent",
            features={"name": np.zeros(0, str), "color": np.zeros(0, str)},
            feature_defaults={"name": "", "color": "#ffffff"},
            text={"string": "{name}", "size": FONT_SIZE, "color": {"feature": "color"}, "anchor": "center"},
            scale=p.scale,
            translate=p.translate,
            units=p.units,
            axis_labels=p.axis_labels,
            visible=p.visible,
            metadata={NAMES_OF: p.name},
        )
        layer.editable = False  # a view of the annotations, never edited by hand
        layers = viewer.layers
        selected, active = set(layers.selection), layers.selection.active
        above = max([layers.index(ly) for ly in (p, s.edges) if ly in layers], default=len(layers) - 1)
        layers.insert(above + 1, layer)
        layers.selection.clear()  # adding a layer selects it: the annotation layer stays the active one
        layers.selection.update(selected)
        layers.selection.active = active
        self.layer = layer
        s.changed.connect(self._on_changed)
        s.frame_changed.connect(self._on_changed)
        camera_of(viewer).events.zoom.connect(self.update)
        p.events.set_data.connect(self._on_set_data)
        viewer.dims.events.point.connect(self._on_point)
        layers.events.removed.connect(self._on_removed)
        self.update()

    def hide(self) -> None:
        """Stop following the view and remove the names layer (the Points layer's own text goes off too)."""
        layer = self.layer
        if layer is None:
            return
        s = self.session
        s.changed.disconnect(self._on_changed)
        s.frame_changed.disconnect(self._on_changed)
        camera_of(s.viewer).events.zoom.disconnect(self.update)
        s.points.events.set_data.disconnect(self._on_set_data)
        s.viewer.dims.events.point.disconnect(self._on_point)
        s.viewer.layers.events.removed.disconnect(self._on_removed)
        self.layer = None
        self.placed = np.zeros(0, np.intp)
        s.points.text.visible = False
        if layer in s.viewer.layers:
            self._removing = True
            try:
                s.viewer.layers.remove(layer)
            finally:
                self._removing = False

    def _on_removed(self, event: Any) -> None:
        if event.value is self.layer and not self._removing:  # a person removed it: names off
            self.session.show_names(False)

    # -- following the view ---------------------------------------------------------------------
    def _on_changed(self, *_: Any) -> None:
        self.update()

    def _depth_in_view(self) -> tuple[int, ...]:
        """The slice in view along the layer's depth axes (neither displayed nor the frame axis)."""
        s = self.session
        p, dims = s.points, s.viewer.dims
        offset = dims.ndim - p.ndim
        fa = s.store.frame_axis
        depth = [a for a in range(p.ndim) if a != fa and a + offset not in dims.displayed]
        if not depth:
            return ()
        here = np.asarray(p.world_to_data(dims.point), float)
        return tuple(int(v) for v in np.round(here[depth]))

    def _on_point(self, event: Any = None) -> None:
        """A 3D skeleton's slice changed (the session redraws, and tells us, on frame changes)."""
        if self._depth and self._depth_in_view() != self._depth:
            self.update()

    def _on_set_data(self, event: Any = None) -> None:
        """While a node is dragged, its name follows (throttled; the release places it exactly)."""
        if self.session.edits.dragging is None or self.session.view.busy:
            return
        now = time.perf_counter()
        if now - self._last >= DRAG_INTERVAL:
            self.update()

    def sync_layer(self) -> None:
        """Follow the annotation layer's name and visibility."""
        if self.layer is not None:
            self.layer.name = f"{self.session.points.name} names"
            self.layer.metadata[NAMES_OF] = self.session.points.name
            self.layer.visible = self.session.points.visible

    def update(self, event: Any = None) -> None:
        """Place the names of the points in view at the current zoom and write the names layer."""
        layer = self.layer
        if layer is None:
            return
        t0 = time.perf_counter()
        s = self.session
        p, viewer = s.points, s.viewer
        flat = viewer.dims.ndisplay == 2 and s.view.frame is not None
        if p.text.visible != (not flat):  # 3D: napari's own text on the points (boxes not fixed)
            p.text.visible = not flat
        rows, data, strings, colors = self._labels(flat)
        if not (len(data) == 0 and len(layer.data) == 0):
            # one layer update per placement: rows and their text change together
            # (like the session's own redraws, no ``data`` event: the viewer's dims stay as they are)
            same_text = len(data) == len(layer.data) and np.array_equal(layer.features["name"], strings)
            same_text = same_text and np.array_equal(layer.features["color"], colors)
            with layer.events.data.blocker():
                layer.data = data
            # (a frame step moves the same names: only their positions change; no names: napari
            # empties the table itself, and keeps its defaults for the rows added next)
            if len(data) and not same_text:
                layer.features = {"name": strings, "color": colors}
            layer.editable = False  # (napari makes a Points layer editable again on new data)
        self.placed = rows
        self._depth = self._depth_in_view()
        self._last = time.perf_counter()
        self.seconds = self._last - t0

    def _labels(self, flat: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows labelled, names layer data, strings and colours (hex) of the placed names."""
        s = self.session
        p, viewer = s.points, s.viewer
        data = np.asarray(p.data, float)
        n = len(data)
        feats = p.features
        none = (np.zeros(0, np.intp), np.zeros((0, p.ndim)), np.zeros(0, str), np.zeros(0, str))
        if not flat or n == 0 or n != len(feats) or "node" not in feats:
            return none
        offset = viewer.dims.ndim - p.ndim
        axes = [a - offset for a in viewer.dims.displayed if a - offset >= 0]
        if len(axes) != 2:
            return none
        # the points of the slice in view (a 3D skeleton on a 2D slice shows only those)
        here = np.asarray(p.world_to_data(viewer.dims.point), float)
        other = [a for a in range(p.ndim) if a not in axes]
        rows = np.flatnonzero(np.all(np.abs(data[:, other] - here[other]) <= 0.5, axis=1))
        if not len(rows):
            return none
        zoom = float(camera_of(viewer).zoom)
        scale = np.abs(np.asarray(p.scale, float)[axes])
        px = data[np.ix_(rows, axes)] * scale * zoom
        ids = np.asarray(feats["instance"], np.int64)[rows] if "instance" in feats else np.zeros(len(rows))
        _, inv = np.unique(ids, return_inverse=True)
        inv = inv.ravel()
        counts = np.bincount(inv).astype(float)
        centres = np.stack([np.bincount(inv, px[:, k]) / counts for k in range(2)], axis=1)[inv]
        strings = np.asarray(feats["node"].astype(str), dtype=str)[rows]
        half = label_half_sizes(strings, FONT_SIZE)
        radius = 0.5 * np.asarray(p.size, float)[rows] * float(scale.mean()) * zoom
        avoid = self._edge_samples(rows, px, float(half[:, 0].min()) if len(half) else 1.0)
        at, ok = place_labels(px, half, centres, radius, gap=GAP, avoid=avoid, avoid_radius=EDGE_RADIUS)
        rows = rows[ok]
        out = data[rows].copy()
        out[:, axes] = at[ok] / (scale * zoom)
        face = np.asarray(p.face_color, float).reshape(-1, 4)[rows, :3]
        light = np.clip(0.45 * face + 0.55, 0, 1)  # the point's colour, lightened to read on video
        colors = np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.round(light * 255).astype(int)], str)
        return rows, out, strings[ok], colors

    def _edge_samples(self, rows: np.ndarray, px: np.ndarray, spacing: float) -> np.ndarray:
        """Pixels along the drawn edges between the labelled points, ``spacing`` apart."""
        a, b = self.session.view.edge_rows()
        if not len(a) or len(self.session.view.ids) != len(self.session.points.data):
            return np.zeros((0, 2))
        slot = np.full(len(self.session.view.ids), -1, np.intp)
        slot[rows] = np.arange(len(rows))
        a, b = slot[a], slot[b]
        both = (a >= 0) & (b >= 0)
        pa, pb = px[a[both]], px[b[both]]
        steps = np.ceil(np.hypot(*(pb - pa).T) / max(spacing, 1.0)).astype(np.intp) + 1
        edge = np.repeat(np.arange(len(pa)), steps)
        first = np.cumsum(steps) - steps
        t = (np.arange(int(steps.sum())) - first[edge]) / np.maximum(steps[edge] - 1, 1)
        return pa[edge] + t[:, None] * (pb[edge] - pa[edge])
