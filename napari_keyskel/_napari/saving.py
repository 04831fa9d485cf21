"""Saving keyskel layers from the viewer: with a notification, together, after napari's writers.

:func:`save_layer` saves one layer (and the layers read from the same file) where it was read from
or, for a new layer, where ``ask`` says (the window's file dialog: :mod:`napari_keyskel._qt.save_hooks`),
and says so in a notification; :func:`saved_by_writer` marks the layers napari's File > Save just
wrote with a keyskel writer as saved; :func:`autosave_now` writes the recovery files of a viewer's
layers; :func:`warn_on_csv_writer` makes napari's built-in CSV writer say it kept one frame only.
Each layer's own state is its owner's :class:`~.save.SaveState`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.wording import at_path, plural
from ..errors import KeyskelError
from .napari_private import after_builtin_points_writer
from .registry import owner_of, owners
from .save import SaveState, notify

__all__ = ["AskPath", "autosave_now", "save_layer", "saved_by_writer", "states", "warn_on_csv_writer"]

#: Asks where (and as which format) to save a layer with no file yet; None: nowhere.
AskPath = Callable[[SaveState], "tuple[Path, str] | None"]


def states(viewer: Any) -> list[SaveState]:
    """The save states of the keyskel layers in ``viewer``, in layer order."""
    return [o.save for o in owners(viewer)]


def save_layer(layer: Any, ask: AskPath | None = None) -> list[Path]:
    """Save ``layer`` to its file (a new layer: where ``ask`` says); notify; [] if not saved."""
    owner = owner_of(layer)
    if owner is None:
        return []
    state = owner.save
    path, fmt = state.path, state.format
    if path is None:
        chosen = None if ask is None else ask(state)
        if chosen is None:
            return []
        path, fmt = chosen
    try:
        written = state.save(path, fmt)
    except (KeyskelError, OSError) as exc:
        notify(at_path(path, str(exc), "keyskel: nothing saved to"), "error")
        return []
    notify(f"keyskel: saved {state.layer.name!r} (every frame) to {', '.join(str(p) for p in written)}")
    return written


def saved_by_writer(layer_data: Sequence[tuple[Any, dict[str, Any], str]], path: str, fmt: str) -> None:
    """Napari's File > Save just wrote these layers with a keyskel writer (every frame): saved.

    The layers are found by their ``metadata["keyskel"]`` (napari hands the writer the layer's own
    metadata dict); Ctrl-S then writes to the same path, in the same format.
    """
    written = {
        id(attrs["metadata"]["keyskel"])
        for _, attrs, ltype in layer_data
        if ltype == "points" and "keyskel" in (attrs.get("metadata") or {})
    }
    for owner in owners():
        if id(owner.points.metadata.get("keyskel")) in written:
            owner.save.mark_saved(Path(path), fmt)


def autosave_now(viewer: Any) -> list[Path]:
    """Write the recovery files of every layer with edits since the last autosave."""
    return [p for s in states(viewer) if (p := s.autosave()) is not None]


def _warn_csv(out: str, data: Any, meta: dict[str, Any]) -> None:
    """After napari's built-in CSV writer saved a keyskel layer: warn that it holds one frame."""
    if "keyskel" in (meta.get("metadata") or {}):
        notify(
            f"keyskel: {out} holds only the {plural(len(data), 'point')} of the frame in view, "
            "not every frame. "
            "Save as 'V7 Darwin JSON' or 'COCO keypoints' (or press Ctrl-S on the layer) "
            "to keep them all.",
            "warning",
        )


def warn_on_csv_writer() -> None:
    """Warn when napari's built-in CSV writer saves a keyskel layer: it holds the frame in view only."""
    after_builtin_points_writer(_warn_csv)
