"""The public names other code uses to reach a keyskel layer's edit session.

``controller_for(layer)`` returns the :class:`~.session.EditSession` of a keyskel Points layer
(or of its edges layer), with ``.store``, ``.points``, ``.edges``, ``.viewer``, ``.history``,
``.changed`` (emitted with ``list[Change]`` after every edit), ``.frame_changed``,
``.apply(changes)`` and ``.refresh()``. The session itself lives in :mod:`.session` (store,
history, bindings), what it shows in :mod:`.view`, how layer events become store edits in
:mod:`.layer_edits`, and which session belongs to which layer in :mod:`.registry`.
"""

from __future__ import annotations

from .registry import add_points_layer, attach, connect_viewer, expect_store, is_keyskel_points
from .registry import session_for as controller_for
from .registry import sessions as controllers
from .session import EditSession, notify_error

#: The edit session of one annotation layer (the former controller class).
LayerController = EditSession

__all__ = [
    "EditSession",
    "LayerController",
    "add_points_layer",
    "attach",
    "connect_viewer",
    "controller_for",
    "controllers",
    "expect_store",
    "is_keyskel_points",
    "notify_error",
]
