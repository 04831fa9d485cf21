"""Meta one format keeps for a lossless write, carried in the other format's extras: checked on read.

A V7 dataset converted to COCO carries its V7 bookkeeping (``meta["darwin"]`` of the dataset,
its stores and tracks) in COCO's ``keyskel`` extras, and a COCO dataset converted to V7 carries
``meta["coco"]`` the same way. Writing the first format again walks that meta; a file edited by
hand or another tool may hold something else there (``{"darwin": {"items": -1.5}}``). Such a
file is refused when read, with a :class:`~napari_keyskel.errors.FormatError` naming the file and
the field, rather than failing later, in a writer or ``keyskel validate``, with a ``TypeError``.

Only the shapes the writers rely on are checked (which keys are objects, lists, strings...);
values inside are checked by the writer that uses them.
"""

from __future__ import annotations

from typing import Any

from ..errors import FormatError
from ._checks import is_int, short

__all__ = ["check_carried"]

_Shape = dict[str, type | tuple[type, ...]]

#: level -> format -> key -> the type its value must have (when present).
_SHAPES: dict[str, dict[str, _Shape]] = {
    "dataset": {
        "darwin": {"items": list},
        "coco": {"kind": str, "top": dict, "categories": list, "annotations": list},
    },
    "store": {
        "darwin": {"kind": str, "skeleton": str},
        "coco": {"category": dict, "skeleton_source": str, "note": str, "nameless": str},
    },
    "track": {
        "darwin": {
            "ref": str, "file": str, "kind": str, "image": bool, "slot": str, "keys": list,
            "extra": dict, "frames_read": list, "node_extra": dict, "frame_extra": dict,
            "body_extra": dict, "empty_keyframes": dict, "keyskel_rest": dict, "filled": bool,
            "ranges_key": str,
        },
        "coco": {"fields": list, "ann": dict, "orig": dict, "read_id": int},
    },
}  # fmt: skip
#: An item of ``meta["darwin"]["items"]`` (one V7 file read).
_ITEM: _Shape = {
    "key": str, "template": dict, "entries": list, "slots": list, "version": int, "name": str,
    "keyskel_rest": dict,
}  # fmt: skip
#: Track keys whose values map frames to objects.
_PER_FRAME = ("node_extra", "frame_extra", "body_extra", "ann", "orig")
_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "an integer"}


def _check(path: Any, where: str, field: str, obj: Any, shape: _Shape) -> None:
    for key, typ in shape.items():
        if key not in obj:
            continue
        v = obj[key]
        ok = is_int(v) if typ is int else isinstance(v, typ) and not (typ is not bool and isinstance(v, bool))
        if not ok:
            want = _NAMES.get(typ, str(typ)) if isinstance(typ, type) else "a value"
            raise FormatError(f"'{field}.{key}' must be {want}, got {short(v)}", path, where)


def check_carried(
    meta: Any, level: str, own: str, path: Any, where: str, field: str = "keyskel.meta"
) -> None:
    """FormatError unless the V7 / COCO parts of carried ``meta`` have the shapes writers need.

    ``level``: ``"dataset"``, ``"store"`` or ``"track"``; ``own``: the format of the file read
    (``"coco"`` or ``"darwin"``: its own part is not carried, so not checked); ``where`` and
    ``field``: the place in the file, for the message (``"top level"``, ``"keyskel.meta"``).
    """
    if not isinstance(meta, dict):
        return
    for fmt, shape in _SHAPES[level].items():
        if fmt not in meta or fmt == own:
            continue
        sub, name = meta[fmt], f"{field}.{fmt}"
        if not isinstance(sub, dict):
            raise FormatError(f"'{name}' must be an object, got {short(sub)}", path, where)
        _check(path, where, name, sub, shape)
        if level == "dataset" and fmt == "darwin":
            for i, it in enumerate(sub.get("items", ())):
                iname = f"{name}.items[{i}]"
                if not (isinstance(it, dict) and isinstance(it.get("key"), str)):
                    raise FormatError(f"'{iname}' must be an object with a 'key' string", path, where)
                _check(path, where, iname, it, _ITEM)
                if not all(isinstance(e, dict) for e in it.get("entries", ())):
                    raise FormatError(f"'{iname}.entries' must be a list of objects", path, where)
        if level == "track":
            for key in _PER_FRAME:
                if key in sub and not all(isinstance(v, dict) for v in sub[key].values()):
                    raise FormatError(f"'{name}.{key}' must map frames to objects", path, where)
            per_node = sub.get("node_extra", {}).values()
            if not all(isinstance(v, dict) for nodes in per_node for v in nodes.values()):
                raise FormatError(f"'{name}.node_extra' must map frames to nodes to objects", path, where)
            frames = sub.get("frames_read", ())
            if not all(is_int(f) for f in frames):
                raise FormatError(f"'{name}.frames_read' must be a list of frame numbers", path, where)
