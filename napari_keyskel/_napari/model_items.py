"""A dataset item's pending proposals in the viewer (no Qt): shown when it opens, kept in step.

A model run over a dataset's items (:mod:`napari_keyskel.assist.models.over_items`) leaves each
item's poses as pending proposals beside the dataset (:mod:`napari_keyskel.dataset.pending`).
:func:`show_pending` puts an item's pending proposals into the proposals layer of one of its
annotation layers (the existing :class:`~.proposals_layer.ProposalsLayer`: accept and reject as
for any proposals), and ties them to the file: after every accept, reject or undo the file is
rewritten with the proposals left, and removed when none is left. :func:`show_session_pending`
does it for every annotation layer of the item a
:class:`~.dataset_session.DatasetSession` has open (what the session calls on opening an item).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..dataset.pending import clear_pending, read_pending_stores, write_pending
from ..errors import KeyskelError

if TYPE_CHECKING:
    from ..dataset import Dataset, Item
    from .owner import LayerOwner
    from .proposals_layer import ProposalsLayer

__all__ = ["PendingLink", "show_pending", "show_session_pending"]


class PendingLink:
    """Keeps an item's pending file in step with the proposals layer showing it.

    It listens to the layer's ``changed`` callbacks (an accept, a reject, an undo, or a Ctrl-Z
    of an accept on the annotation layer) and calls :meth:`sync` when the proposals' history moved.
    """

    def __init__(self, pl: ProposalsLayer, dataset: Dataset, item: Item, name: str | None = None) -> None:
        self.pl, self.dataset, self.item = pl, dataset, item
        self.names = {pl.store.name, name}  # the set's names in the file and in the viewer
        self._seen = self._state()
        pl.changed.append(self._on_changed)

    def _state(self) -> tuple[Any, ...]:
        h = self.pl.history
        return (len(h), h.undo_label, h.redo_label)

    def _on_changed(self) -> None:
        if self._state() != self._seen:
            self.sync()

    def sync(self) -> None:
        """Write the proposals left as the item's pending proposals (none left: the file goes)."""
        self._seen = self._state()
        store = self.pl.store
        others = [s for s in read_pending_stores(self.dataset, self.item) if s.name not in self.names]
        left = any(np.isfinite(t.coords[..., 0]).any() for t in store)
        if left or others:
            write_pending(self.dataset, self.item, [store, *others] if left else others)
        else:
            clear_pending(self.dataset, self.item)


def show_pending(
    owner: LayerOwner, dataset: Dataset, item: Item | str, min_score: float = 0.0
) -> ProposalsLayer | None:
    """Show the item's pending proposals for this annotation layer; None if it has none.

    The pending store named like the layer's annotation set is taken (else the only one, when
    its nodes are the layer's). Any proposals layer of the owner is replaced.
    """
    from .proposals_layer import ProposalsLayer

    it = dataset[dataset.index(item)]
    stores = read_pending_stores(dataset, it)
    ann = owner.store
    same = [s for s in stores if s.name == ann.name]
    if not same and len(stores) == 1 and tuple(stores[0].skeleton.nodes) == tuple(ann.skeleton.nodes):
        same = stores
    if not same:
        return None
    store = same[0]
    in_file, store.name = store.name, ann.name
    if ann.n_frames is not None:
        store.n_frames = max(ann.n_frames, store.frame_range()[1])
    try:
        pl = ProposalsLayer(owner, store, min_score)
    except KeyskelError as exc:
        from napari.utils.notifications import show_warning

        show_warning(f"keyskel: the pending proposals of {it.name!r} do not fit {ann.name!r}: {exc}")
        return None
    PendingLink(pl, dataset, it, in_file)
    return pl


def show_session_pending(session: Any, min_score: float = 0.0) -> list[ProposalsLayer]:
    """Show the pending proposals of the item a ``DatasetSession`` has open, on its layers."""
    from .registry import owner_of

    item = session.item
    if item is None:
        return []
    out = []
    for layer in session.points_layers:
        owner = owner_of(layer)
        if owner is not None:
            pl = show_pending(owner, session.dataset, item, min_score)
            if pl is not None:
                out.append(pl)
    return out
