"""``Shift-D`` / ``Shift-A`` on a keyskel layer: the next / previous frame still to label.

A frame is still to label when no instance has a key on it, or when it holds a review flag
nobody has reviewed (:mod:`napari_keyskel.dataset.where_next`); the flags are those of the
layer's review session when one runs, else detected on the key press. Installed by
:class:`~napari_keyskel._napari.bindings.Bindings` on every keyskel layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dataset.where_next import frames_to_label, step

if TYPE_CHECKING:
    from .bindings import Bindings

__all__ = ["LABEL_NEXT_KEYS", "install", "to_label"]

#: (key, direction, description) bound on the layer.
LABEL_NEXT_KEYS: tuple[tuple[str, int, str], ...] = (
    ("Shift-D", +1, "next frame without a key (or with an unreviewed review flag)"),
    ("Shift-A", -1, "previous frame without a key (or with an unreviewed review flag)"),
)


def _flagged(bindings: Bindings, n: int) -> np.ndarray | None:
    """Frames with an unreviewed flag from the layer's review, if it has run (else None)."""
    owner = bindings.owner
    if not owner.has_review:
        return None
    review = owner.review
    flags = review.flags
    if not len(flags):  # not run yet: detect on the key press
        return None
    f = np.asarray(flags.frame, np.int64)[np.asarray(review.states()) == ""]
    out = np.zeros(n, bool)
    out[f[(f >= 0) & (f < n)]] = True
    return out


def to_label(bindings: Bindings, direction: int) -> int | None:
    """Go to the next (``direction`` +1) or previous (-1) frame still to label; the frame, or None."""
    store = bindings.store
    if store.frame_axis is None:
        bindings.say("one image: no other frame")
        return None
    frame = bindings._frame_or_none()
    if frame is None:
        return None
    n = store.n_frames or max(store.frame_range()[1], frame + 1)
    target = step(frames_to_label([store], n, _flagged(bindings, n)), frame, direction)
    if target is None:
        bindings.say(f"no {'later' if direction > 0 else 'earlier'} frame left to label")
        return None
    bindings._jump(target)
    bindings.say(f"frame {target}: still to label")
    return target


def install(bindings: Bindings, layer_key: Callable[[str], int]) -> None:
    """Bind ``Shift-D`` / ``Shift-A`` on the bindings' layer (``layer_key``: a key's napari code)."""
    for key, direction, doc in LABEL_NEXT_KEYS:
        bindings.layer.bind_key(layer_key(key), _handler(bindings, direction, doc), overwrite=True)


def _handler(bindings: Bindings, direction: int, doc: str) -> Callable[[Any], None]:
    ref = weakref.ref(bindings)  # the layer's keymap must not keep its owner (and store) alive

    def handler(layer: Any) -> None:
        live = ref()
        if live is not None:
            to_label(live, direction)

    handler.__name__ = f"keyskel_to_label_{'next' if direction > 0 else 'previous'}"
    handler.__doc__ = doc
    return handler
