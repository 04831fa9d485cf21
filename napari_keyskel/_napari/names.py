"""Node names that never overlap: a small Points layer of labels placed beside the points.

napari's layer ``text`` draws every label with one translation, so the names of close nodes (a
mouse's snout, ears and neck) pile up. :class:`NodeNames` instead keeps a non-editable Points
layer (``"<points name> names"``) owned by the layer's owner, like its edges layer: invisible
markers (size 0, transparent) at label centres, each with its node's name as ``text`` anchored at
its centre. The centres come from :func:`napari_keyskel._napari.labels.place_labels`, in screen pixels of
the current camera zoom, for the points of the frame (and slice) in view; a label that finds no
free place is left out rather than drawn over another.

The layer exists only while names are shown. The names are placed once per redraw of the owner
(a frame step, an edit: :meth:`~.owner.LayerOwner.redraw` calls :meth:`NodeNames.update`), when
the slice of a 3D skeleton changes, on ``viewer.camera.events.zoom`` and when names are switched
on. While a node is dragged its name moves with it (at most every :data:`DRAG_INTERVAL` seconds;
no placement) and is placed once at release. The layer is removed with the annotation layer, or
when names are switched off; removing it from the layer list switches names off. In napari's 3D
view (or with the frame axis displayed) screen boxes are not fixed, so the names layer empties and
the Points layer's own ``text`` shows the names instead, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .labels import label_half_sizes, overlapping_pairs, place_labels
from .napari_private import keep_text_layout

if TYPE_CHECKING:
    from napari.layers import Points

    from .owner import LayerOwner

__all__ = ["DRAG_INTERVAL", "FONT_SIZE", "NodeNames", "camera_of"]

#: napari text size of the names (points; about 10.7 pixels high).
FONT_SIZE = 8
#: Pixels between a point's marker and its name.
GAP = 2.0
#: Half width in pixels of an edge line, kept clear of names where there is room.
EDGE_RADIUS = 1.5
#: While a node is dragged, its name moves with it at most this often (seconds); placed at release.
DRAG_INTERVAL = 0.05
#: Metadata key of a names layer: the name of the Points layer it labels.
NAMES_OF = "keyskel_names_of"


def camera_of(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _view_bounds(viewer: Any, p: Any, axes: list[int], zoom: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The canvas as a box in the placement's pixels (``data * scale * zoom``), or None if unknown.

    Its centre is the camera's centre less the layer's translation; its size, the canvas's
    (``viewer.canvas.size``, height x width, from napari 0.6).
    """
    size = getattr(getattr(viewer, "canvas", None), "size", None)
    if size is None or len(size) != 2 or min(size) <= 0:
        return None
    centre = np.asarray(camera_of(viewer).center, float)[-2:]
    translate = np.asarray(p.translate, float)[axes]
    mid = (centre - translate) * zoom
    half = np.asarray(size, float) / 2
    return mid - half, mid + half


@dataclass
class _Scene:
    """The points of the slice in view, as a placement sees them (screen pixels)."""

    data: np.ndarray  # the Points layer's data (every row)
    rows: np.ndarray  # rows of the slice in view
    axes: list[int]  # the displayed layer axes (its last two: the names layer's)
    scale: np.ndarray  # layer scale of those axes
    zoom: float
    px: np.ndarray  # (len(rows), 2) points in screen pixels
    ids: np.ndarray  # their instances
    centres: np.ndarray  # their instance's centre in pixels
    strings: np.ndarray  # their names
    half: np.ndarray  # half sizes of their labels in pixels
    radius: np.ndarray  # marker radii in pixels
    colors: np.ndarray  # label colours (hex)
    bounds: tuple[np.ndarray, np.ndarray] | None = None  # the canvas in the same pixels, if known


class NodeNames:
    """The names layer of one :class:`~.owner.LayerOwner` (created while names are shown).

    Attributes
    ----------
    layer
        The names Points layer, or None while names are hidden.
    placed
        Layer rows of the annotation Points layer whose name is drawn (last placement).
    seconds
        Wall time of the last placement (computing and writing the layer).

    """

    def __init__(self, owner: LayerOwner) -> None:
        self.owner = owner
        self.layer: Points | None = None
        self.placed = np.zeros(0, np.intp)
        self.seconds = 0.0
        self._last = 0.0
        self._removing = False
        self._depth: tuple[int, ...] = ()  # the slice in view of a 3D skeleton (its depth indices)
        self._rows = np.zeros(0, np.intp)  # the rows of the slice at the last placement
        self._placed_for: tuple[int, float] = (-1, 0.0)  # (layer rows, zoom) of the last placement

    @property
    def shown(self) -> bool:
        return self.layer is not None

    # -- lifecycle ------------------------------------------------------------------------------
    def show(self) -> None:
        """Create the names layer (above the annotation and edges layers) and place the names."""
        if self.layer is not None:
            return
        from napari.layers import Points

        keep_text_layout()  # names move every frame; their strings (and glyph layout) stay

        s = self.owner
        p, viewer = s.points, s.viewer
        # 2-D, in the layer's last two (displayed) axes: not sliced by the frame axis, so a frame
        # step writes it once (napari does not slice it first) and its strings, and their glyph
        # layout, stay while only the positions move
        layer = Points(
            np.zeros((0, 2)),
            ndim=2,
            name=f"{p.name} names",
            size=0,
            face_color="transparent",
            border_width=0,
            border_color="transparent",
            features={"name": np.zeros(0, str), "color": np.zeros(0, str)},
            feature_defaults={"name": "", "color": "#ffffff"},
            text={"string": "{name}", "size": FONT_SIZE, "color": {"feature": "color"}, "anchor": "center"},
            scale=np.asarray(p.scale)[-2:],
            translate=np.asarray(p.translate)[-2:],
            units=tuple(p.units)[-2:],
            axis_labels=tuple(p.axis_labels)[-2:],
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
        camera_of(viewer).events.zoom.connect(self.update)
        viewer.dims.events.point.connect(self._on_point)
        layers.events.removed.connect(self._on_removed)
        self.update()

    def hide(self) -> None:
        """Stop following the view and remove the names layer (the Points layer's own text goes off too)."""
        layer = self.layer
        if layer is None:
            return
        s = self.owner
        camera_of(s.viewer).events.zoom.disconnect(self.update)
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
            self.owner.show_names(False)

    # -- following the view ---------------------------------------------------------------------
    def _depth_in_view(self) -> tuple[int, ...]:
        """The slice in view along the layer's depth axes (neither displayed nor the frame axis)."""
        s = self.owner
        p, dims = s.points, s.viewer.dims
        offset = dims.ndim - p.ndim
        fa = s.store.frame_axis
        depth = [a for a in range(p.ndim) if a != fa and a + offset not in dims.displayed]
        if not depth:
            return ()
        here = np.asarray(p.world_to_data(dims.point), float)
        return tuple(int(v) for v in np.round(here[depth]))

    def _on_point(self, event: Any = None) -> None:
        """A 3D skeleton's slice changed (a frame step is the owner's redraw, which places the names)."""
        if self._depth and self._depth_in_view() != self._depth:
            self.update()

    def follow_drag(self) -> None:
        """While nodes are dragged, their instances' names are placed again (throttled).

        Only the dragged instances' names move; the others stay where they are (obstacles), so
        a drag step costs a placement of a few names. The release is the owner's redraw, which
        places the names once.
        """
        dragging = self.owner.edits.dragging
        if self.layer is None or dragging is None or time.perf_counter() - self._last < DRAG_INTERVAL:
            return
        scene = self._scene(True)
        if scene is not None:
            self._place_some(scene, np.isin(scene.ids, dragging), avoid_edges=False)
        self._last = time.perf_counter()

    def _still_valid(self, scene: _Scene) -> bool:
        """The last placement was made for these rows, at this zoom (only some names need moving)."""
        layer = self.layer
        return (
            layer is not None
            and len(self.placed) == len(layer.data)
            and self._placed_for == (len(scene.data), scene.zoom)
            and np.array_equal(self._rows, scene.rows)
        )

    def _place_some(self, scene: _Scene, moving: np.ndarray, avoid_edges: bool = True) -> bool:
        """Place again the names of the ``moving`` rows of the scene, the others staying put.

        A name that stays but now covers a moved point's marker moves too. False (nothing done)
        when the last placement was not for these rows.
        """
        layer = self.layer
        if layer is None or not self._still_valid(scene):
            return False
        at = np.asarray(layer.data, float)
        slot = np.searchsorted(scene.rows, self.placed)
        box_px = at * scene.scale * scene.zoom
        lo, hi = box_px - scene.half[slot], box_px + scene.half[slot]
        # a name that stays must not cover a moved marker: it moves too
        m = np.flatnonzero(moving)
        r = scene.radius[m][:, None]
        hit, _ = overlapping_pairs(lo, hi, scene.px[m] - r, scene.px[m] + r)
        moving = moving.copy()
        moving[slot[hit]] = True
        stays = ~moving[slot]
        sub, still = np.flatnonzero(moving), np.flatnonzero(~moving)
        avoid = None
        if avoid_edges:
            avoid = self._edge_samples(scene.rows, scene.px, float(scene.half[:, 0].min()))
        centre, ok = place_labels(
            scene.px[sub],
            scene.half[sub],
            scene.centres[sub],
            scene.radius[sub],
            gap=GAP,
            avoid=avoid,
            avoid_radius=EDGE_RADIUS,
            markers=(scene.px[still], scene.radius[still]),
            taken=(lo[stays], hi[stays]),
            bounds=scene.bounds,
        )
        new_at = centre[ok] / (scene.scale * scene.zoom)
        idx = np.concatenate([slot[stays], sub[ok]])
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        data = np.concatenate([at[stays], new_at])[order]
        self._write(scene.rows[idx], data, scene.strings[idx], scene.colors[idx])
        return True

    def sync_layer(self) -> None:
        """Follow the annotation layer's name and visibility."""
        if self.layer is not None:
            self.layer.name = f"{self.owner.points.name} names"
            self.layer.metadata[NAMES_OF] = self.owner.points.name
            self.layer.visible = self.owner.points.visible

    def update(self, event: Any = None, tracks: set[int] | None = None) -> None:
        """Place the names of the points in view at the current zoom and write the names layer.

        ``tracks``: only these instances moved (an edit): their names are placed again and the
        others stay, unless the last placement was for other rows or another zoom.
        """
        layer = self.layer
        if layer is None:
            return
        t0 = time.perf_counter()
        s = self.owner
        s.redraws["names"] += 1
        p, viewer = s.points, s.viewer
        flat = viewer.dims.ndisplay == 2 and s.view.frame is not None and self._last_two_displayed()
        if p.text.visible != (not flat):  # 3D: napari's own text on the points (boxes not fixed)
            p.text.visible = not flat
        scene = self._scene(flat)
        if scene is None:
            self._write(np.zeros(0, np.intp), np.zeros((0, 2)), np.zeros(0, str), np.zeros(0, str))
        elif tracks is not None and self._place_some(scene, np.isin(scene.ids, list(tracks))):
            pass
        else:
            avoid = self._edge_samples(scene.rows, scene.px, float(scene.half[:, 0].min()))
            at, ok = place_labels(
                scene.px,
                scene.half,
                scene.centres,
                scene.radius,
                gap=GAP,
                avoid=avoid,
                avoid_radius=EDGE_RADIUS,
                bounds=scene.bounds,
            )
            out = at[ok] / (scene.scale * scene.zoom)
            self._write(scene.rows[ok], out, scene.strings[ok], scene.colors[ok])
        self._depth = self._depth_in_view()
        if scene is not None:
            self._rows, self._placed_for = scene.rows, (len(scene.data), scene.zoom)
        self._last = time.perf_counter()
        self.seconds = self._last - t0

    def _write(self, rows: np.ndarray, data: np.ndarray, strings: np.ndarray, colors: np.ndarray) -> None:
        """Write the names layer: one layer update, rows and their text together."""
        layer = self.layer
        assert layer is not None
        if not (len(data) == 0 and len(layer.data) == 0):
            # (like the owner's own redraws, no ``data`` event: the viewer's dims stay as they are)
            same_text = len(data) == len(layer.data) and np.array_equal(layer.features["name"], strings)
            same_text = same_text and np.array_equal(layer.features["color"], colors)
            with layer.events.data.blocker():
                layer.data = data
            # (a frame step moves the same names: only their positions change; no names: napari
            # empties the table itself, and keeps its defaults for the rows added next)
            if len(data) and not same_text:
                layer.features = {"name": strings, "color": colors}
            layer.editable = False  # (napari makes a Points layer editable again on new data)
        self.placed = np.asarray(rows, np.intp)

    def _last_two_displayed(self) -> bool:
        """The layer's last two axes are the ones displayed (the names layer's own two axes)."""
        p, dims = self.owner.points, self.owner.viewer.dims
        offset = dims.ndim - p.ndim
        return sorted(a - offset for a in dims.displayed) == [p.ndim - 2, p.ndim - 1]

    def _scene(self, flat: bool) -> _Scene | None:
        """What a placement needs about the points of the slice in view (None: nothing to name)."""
        s = self.owner
        p, viewer = s.points, s.viewer
        data = np.asarray(p.data, float)
        n = len(data)
        feats = p.features
        if not flat or n == 0 or n != len(feats) or "node" not in feats:
            return None
        axes = [p.ndim - 2, p.ndim - 1]  # (displayed: _last_two_displayed)
        # the points of the slice in view (a 3D skeleton on a 2D slice shows only those)
        here = np.asarray(p.world_to_data(viewer.dims.point), float)
        other = [a for a in range(p.ndim) if a not in axes]
        rows = np.flatnonzero(np.all(np.abs(data[:, other] - here[other]) <= 0.5, axis=1))
        if not len(rows):
            return None
        zoom = float(camera_of(viewer).zoom)
        scale = np.abs(np.asarray(p.scale, float)[axes])
        px = data[np.ix_(rows, axes)] * scale * zoom
        ids = (
            np.asarray(feats["instance"], np.int64)[rows]
            if "instance" in feats
            else np.zeros(len(rows), np.int64)
        )
        _, inv = np.unique(ids, return_inverse=True)
        inv = inv.ravel()
        counts = np.bincount(inv).astype(float)
        centres = np.stack([np.bincount(inv, px[:, k]) / counts for k in range(2)], axis=1)[inv]
        strings = np.asarray(feats["node"].astype(str), dtype=str)[rows]
        radius = 0.5 * np.asarray(p.size, float)[rows] * float(scale.mean()) * zoom
        face = np.asarray(p.face_color, float).reshape(-1, 4)[rows, :3]
        light = np.clip(0.45 * face + 0.55, 0, 1)  # the point's colour, lightened to read on video
        colors = np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in np.round(light * 255).astype(int)], str)
        half = label_half_sizes(strings, FONT_SIZE)
        bounds = _view_bounds(viewer, p, axes, zoom)
        return _Scene(data, rows, axes, scale, zoom, px, ids, centres, strings, half, radius, colors, bounds)

    def _edge_samples(self, rows: np.ndarray, px: np.ndarray, spacing: float) -> np.ndarray:
        """Pixels along the drawn edges between the labelled points, ``spacing`` apart."""
        view = self.owner.view
        a, b = view.edge_rows()
        if not len(a) or len(view.ids) != len(self.owner.points.data):
            return np.zeros((0, 2))
        slot = np.full(len(view.ids), -1, np.intp)
        slot[rows] = np.arange(len(rows))
        a, b = slot[a], slot[b]
        both = (a >= 0) & (b >= 0)
        pa, pb = px[a[both]], px[b[both]]
        steps = np.ceil(np.hypot(*(pb - pa).T) / max(spacing, 1.0)).astype(np.intp) + 1
        edge = np.repeat(np.arange(len(pa)), steps)
        first = np.cumsum(steps) - steps
        t = (np.arange(int(steps.sum())) - first[edge]) / np.maximum(steps[edge] - 1, 1)
        return pa[edge] + t[:, None] * (pb[edge] - pa[edge])
