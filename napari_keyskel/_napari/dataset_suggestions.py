"""The frames suggested for labelling in a dataset session: shown, made, stepped through (no Qt).

The suggestions live in the dataset (:class:`~napari_keyskel.dataset.suggestions.Suggestions`,
per item, saved beside the items). The item open shows its own on its annotation layers'
``metadata["keyskel_suggestions"]`` (what the Models tab runs on, and what the Dataset dock marks
on the timeline). :meth:`SessionSuggestions.step` goes to the next (previous) suggested frame of
the item open and, past its last, saves the item and opens the next item that has suggestions,
at its first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import KeyskelError

if TYPE_CHECKING:
    from .dataset_session import DatasetSession

__all__ = ["SUGGESTIONS_KEY", "SessionSuggestions"]

#: Metadata key of an annotation layer listing the frames suggested for labelling.
SUGGESTIONS_KEY = "keyskel_suggestions"


class SessionSuggestions:
    """The suggested frames of a :class:`DatasetSession`'s items (see the module docstring)."""

    def __init__(self, session: DatasetSession) -> None:
        self.session = session

    @property
    def store(self) -> Any:
        """The dataset's :class:`~napari_keyskel.dataset.suggestions.Suggestions`."""
        return self.session.dataset.suggestions

    def of_item(self) -> np.ndarray:
        """The suggested frames of the item open (empty when none or no item is open)."""
        item = self.session.item
        return np.zeros(0, np.int64) if item is None else self.store.get(item.key)

    def show(self) -> np.ndarray:
        """Put the item's suggestions on its annotation layers (the Models tab reads them there)."""
        frames = self.of_item()
        for layer in self.session.points_layers:
            if frames.size:
                layer.metadata[SUGGESTIONS_KEY] = [int(f) for f in frames]
            else:
                layer.metadata.pop(SUGGESTIONS_KEY, None)
        return frames

    def counts(self) -> dict[str, int]:
        """Suggested frames per item key (items with none left out)."""
        return {k: len(v) for k, v in self.store.by_item.items()}

    def _save(self) -> None:
        try:
            self.store.save()
        except (KeyskelError, OSError) as exc:
            from napari.utils.notifications import show_error

            show_error(f"keyskel: the suggested frames were not saved: {exc}")

    def set_item(self, frames: Iterable[int]) -> np.ndarray:
        """Make ``frames`` the suggestions of the item open (saved); returns them as shown."""
        item = self.session.item
        if item is None:
            raise KeyskelError("no item is open")
        self.store.set(item.key, frames)
        self._save()
        return self.show()

    def replace_all(self, by_item: Mapping[str, Iterable[int]]) -> np.ndarray:
        """Every item's suggestions replaced by ``by_item`` (saved); the item open's, as shown."""
        self.store.replace_all(by_item)
        self._save()
        return self.show()

    # -- stepping -------------------------------------------------------------------------------
    def _axis(self) -> int | None:
        s = self.session
        layer = s.media_layer if s.media_layer is not None else (s.points_layers or [None])[0]
        return None if layer is None else s.viewer.dims.ndim - layer.ndim

    def frame(self) -> int | None:
        """The frame in view of the item open."""
        axis = self._axis()
        return None if axis is None else int(self.session.viewer.dims.current_step[axis])

    def go(self, frame: int) -> None:
        """Show ``frame`` of the item open."""
        axis = self._axis()
        if axis is not None:
            self.session.viewer.dims.set_current_step(axis, int(frame))

    def step(self, direction: int = 1, order: Sequence[int] | None = None) -> tuple[int, int] | None:
        """Go to the next (``direction`` +1) or previous (-1) suggested frame; ``(item, frame)``.

        Past the item's last (first) suggestion, the item is saved and the next (previous) item
        with suggestions, in ``order`` (dataset indices; default: the dataset's order), opens at
        its first (last) suggestion. None when no suggestion is left that way.
        """
        s = self.session
        frames, here = self.of_item(), self.frame()
        if s.current is not None and frames.size and here is not None:
            later = frames[frames > here] if direction > 0 else frames[frames < here][::-1]
            if later.size:
                self.go(int(later[0]))
                return s.current, int(later[0])
        order = list(range(len(s.dataset))) if order is None else list(order)
        if s.current in order:
            k = order.index(s.current)
            ahead = order[k + 1 :] if direction > 0 else order[:k][::-1]
        else:
            ahead = order if direction > 0 else order[::-1]
        for index in ahead:
            theirs = self.store.get(s.dataset.items[index].key)
            if theirs.size:
                s.open(index)
                target = int(theirs[0] if direction > 0 else theirs[-1])
                self.go(target)
                return index, target
        return None
