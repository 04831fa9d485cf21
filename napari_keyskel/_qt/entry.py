"""napari's entry points that open annotations into a window: the readers and the sample data.

They are the glue's own (:mod:`napari_keyskel._napari.io`, :mod:`~napari_keyskel._napari.sleap_io_hooks`,
:mod:`~napari_keyskel._napari.sample`), plus what the window gives the layers they bring
(:func:`napari_keyskel._qt.save_hooks.install`: Ctrl-S, the close prompt, autosave and the
recovery offer), which needs Qt and so cannot come from the glue itself. ``napari.yaml`` points
at these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from .._napari import io, sample, sleap_io_hooks
from .save_hooks import install

__all__ = ["get_reader", "get_sleap_reader", "make_sample_data", "make_unannotated_sample"]

Reader = Callable[..., list[Any]]


def _with_window(fn: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """``fn``, then the current viewer's window gets the save hooks."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> list[Any]:
        out = fn(*args, **kwargs)
        import napari

        viewer = napari.current_viewer()
        if viewer is not None:
            install(viewer)
        return out

    return run


def get_reader(path: str | Sequence[str]) -> Reader | None:
    """npe2 reader hook: Darwin / COCO (see :func:`napari_keyskel._napari.io.get_reader`)."""
    read = io.get_reader(path)
    return None if read is None else _with_window(read)


def get_sleap_reader(path: str | Sequence[str]) -> Reader | None:
    """npe2 reader hook: the sleap-io formats (see :mod:`napari_keyskel._napari.sleap_io_hooks`)."""
    read = sleap_io_hooks.get_sleap_reader(path)
    return None if read is None else _with_window(read)


make_sample_data = _with_window(sample.make_sample_data)
make_unannotated_sample = _with_window(sample.make_unannotated_sample)
