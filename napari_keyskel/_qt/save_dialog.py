"""File > Save Selected Layers on keyskel layers: our writers first, in the folder of their file.

napari's dialog lists the writers in plugin order (its own CSV writer first, which keeps only
the frame in view of a keyskel layer) and opens in the last folder napari saved to (the home
folder at first). When every selected layer is a keyskel annotation layer, this dialog lists the
keyskel writers first, with the format of the file the layer came from picked, in that file's
folder under its name (a new layer: its name, in napari's last folder); napari's other writers
stay on the list. Any other selection gets napari's own dialog.

The napari private names this needs (the ``QtViewer`` method the menu calls, ``LayerList.save``'s
writer argument) are in :mod:`napari_keyskel._napari.napari_private`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._napari.napari_private import main_window, replace_save_selected_dialog, save_with_writer
from .._napari.registry import owner_of

__all__ = ["install", "keyskel_save_dialog", "suggested_target"]

#: Our writers' npe2 display names by format key (napari.yaml).
_WRITER_NAMES = {"darwin": "V7 Darwin JSON", "coco": "COCO keypoints"}


def install(viewer: Any) -> bool:
    """Route the viewer's File > Save Selected Layers through :func:`keyskel_save_dialog`."""
    return replace_save_selected_dialog(viewer, keyskel_save_dialog)


def suggested_target(layer: Any) -> tuple[Path | None, str]:
    """``(file, format)`` the dialog starts from: where the layer was saved or read, and how."""
    from .. import formats

    owner = owner_of(layer)
    state = owner.save if owner is not None else None
    path = state.path if state is not None else None
    if path is None:
        source = ((layer.metadata.get("keyskel") or {}).get("dataset") or {}).get("source")
        path = Path(source) if source else None
    fmt = state.format if state is not None and state.format else None
    if fmt is None and path is not None and path.is_file():
        try:
            fmt = formats.detect_format(path)
        except Exception:  # an unreadable file: the default format
            fmt = None
    return path, fmt if fmt in _WRITER_NAMES else "darwin"


def _writers() -> list[tuple[str, Any]]:
    """``(filter, writer)`` of every npe2 writer of Points layers, as napari's dialog names them."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    out = []
    for w in pm.iter_compatible_writers(["points"]):
        name = pm.get_manifest(w.command).display_name
        title = f"{name} {w.display_name}" if w.display_name else name
        exts = " ".join(f"*{e}" for e in w.filename_extensions if e) or "*.*"
        out.append((f"{title} ({exts})", w))
    return out


def keyskel_save_dialog(viewer: Any, napari_dialog: Any, selected: bool = False) -> None:
    """*Save Selected Layers* of keyskel layers (see the module); any other selection: napari's."""
    layers = list(viewer.layers.selection)
    if not selected or not layers or not all("keyskel" in (ly.metadata or {}) for ly in layers):
        napari_dialog(selected=selected)
        return
    from napari.utils.history import get_save_history, update_save_history
    from qtpy.QtWidgets import QFileDialog

    active = viewer.layers.selection.active
    path, fmt = suggested_target(active if active in layers else layers[0])
    if path is None:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in layers[0].name) or "annotations"
        path = Path(get_save_history()[0]) / f"{name}.json"
    ours = [_WRITER_NAMES[fmt], *(n for k, n in _WRITER_NAMES.items() if k != fmt)]

    def rank(fw: tuple[str, Any]) -> int:
        return next((i for i, name in enumerate(ours) if name in fw[0]), len(ours))

    writers = sorted(_writers(), key=rank)
    filters = [f for f, _ in writers]
    filename, chosen = QFileDialog.getSaveFileName(
        main_window(viewer),
        "Save selected layers (every frame)",
        str(path),
        filter=";;".join(filters),
        initialFilter=filters[0],
    )
    if not filename:
        return
    writer = writers[filters.index(chosen)][1] if chosen in filters else writers[0][1]
    saved = save_with_writer(viewer, filename, writer)
    if saved:
        update_save_history(saved[0])
