"""Keypoint names of a model, and which model keypoint gives which node of a skeleton.

Pure core. A model's keypoints are matched to a skeleton's nodes in one of three ways
(:func:`map_keypoints`):

- **explicit**: a ``{node: model keypoint}`` mapping (names or indices) that a person made in the
  mapping dialog; it is saved with the annotations (:func:`save_mapping` puts it in
  ``store.meta["keypoint_mapping"]``, which layers and files carry) and used again next time;
- **by names**: nodes and keypoints with the same name (case, spaces, ``-`` and ``_`` ignored);
  used when at least one name matches;
- **by order**: keypoint ``i`` is node ``i``, when the counts are equal and no name matches (a
  model without names gives ``kp0..kpK``).

Anything else is refused with both lists of names. Nodes no keypoint maps to get no proposal;
model keypoints no node takes are dropped, and :attr:`KeypointMapping.dropped` names them.

:func:`read_names` reads a names file: one name per line (``#`` comments and blank lines
skipped), or a skeleton file (``.json``: its node names, in order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import KeyskelError

__all__ = ["MAPPING_KEY", "KeypointMapping", "map_keypoints", "read_names", "save_mapping", "saved_mapping"]

#: Where :func:`save_mapping` keeps an explicit mapping in ``AnnotationStore.meta``.
MAPPING_KEY = "keypoint_mapping"


def read_names(path: str | Path) -> tuple[list[str], str]:
    """Keypoint names from a file; returns ``(names, "names file" | "skeleton file")``."""
    p = Path(path)
    if not p.is_file():
        raise KeyskelError(f"{p}: no such names file")
    if p.suffix.lower() == ".json":
        from ...core.skeleton import Skeleton

        try:
            return list(Skeleton.load(p).nodes), "skeleton file"
        except KeyskelError:
            raise
        except Exception as exc:  # a JSON that is not a skeleton file
            raise KeyskelError(f"{p}: not a skeleton file ({exc})") from None
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyskelError(f"{p}: cannot read the names file ({exc})") from None
    names = [ln.strip() for ln in text.splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise KeyskelError(f"{p}: the names file holds no names (one name per line)")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise KeyskelError(f"{p}: names repeat: {dup}")
    return names, "names file"


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " -_")


@dataclass(frozen=True)
class KeypointMapping:
    """``source[j]``: the model keypoint giving skeleton node ``j`` (-1: none); ``how`` it was made."""

    model_names: tuple[str, ...]
    nodes: tuple[str, ...]
    source: np.ndarray
    how: str

    @property
    def mapped(self) -> np.ndarray:
        """Skeleton node indices that receive a keypoint."""
        return np.flatnonzero(self.source >= 0)

    @property
    def dropped(self) -> list[str]:
        """Model keypoints no node takes."""
        used = set(self.source[self.source >= 0].tolist())
        return [n for i, n in enumerate(self.model_names) if i not in used]

    def apply(self, values: np.ndarray, axis: int = -1) -> np.ndarray:
        """``values`` with the model's K keypoints on ``axis`` -> the skeleton's J nodes (NaN: none).

        Coordinates ``(..., K, 2)`` take ``axis=-2``; scores ``(..., K)`` the default ``-1``.
        """
        arr = np.asarray(values, dtype=float)
        taken = np.take(arr, np.maximum(self.source, 0), axis=axis)
        missing = self.source < 0
        if missing.any():
            idx: list[Any] = [slice(None)] * arr.ndim
            idx[axis] = missing
            taken[tuple(idx)] = np.nan
        return taken

    def as_dict(self) -> dict[str, str]:
        """``{node: model keypoint name}`` for the mapped nodes (what :func:`save_mapping` keeps)."""
        return {self.nodes[j]: self.model_names[int(self.source[j])] for j in self.mapped.tolist()}

    def describe(self) -> str:
        """One line: how, and how many nodes are mapped."""
        text = f"{len(self.mapped)} of {len(self.nodes)} nodes mapped by {self.how}"
        if self.dropped:
            text += f"; model keypoints not used: {', '.join(self.dropped)}"
        return text


def _index(ref: Any, names: Sequence[str], what: str) -> int:
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        if 0 <= int(ref) < len(names):
            return int(ref)
        raise KeyskelError(f"{what} index {ref} is out of range (there are {len(names)})")
    if isinstance(ref, str):
        if ref in names:
            return list(names).index(ref)
        norm = [_norm(n) for n in names]
        if _norm(ref) in norm:
            return norm.index(_norm(ref))
    raise KeyskelError(f"unknown {what} {ref!r} (have {list(names)})")


def map_keypoints(
    model_names: Sequence[str], nodes: Sequence[str], explicit: Mapping[Any, Any] | None = None
) -> KeypointMapping:
    """Map model keypoints to skeleton nodes: explicit, else by names, else by order (module docstring)."""
    model_names, nodes = tuple(str(n) for n in model_names), tuple(str(n) for n in nodes)
    source = np.full(len(nodes), -1, np.int64)
    if explicit:
        for node, kp in explicit.items():
            j = _index(node, nodes, "skeleton node")
            source[j] = _index(kp, model_names, "model keypoint")
        used = source[source >= 0]
        if len(np.unique(used)) != len(used):
            raise KeyskelError("the mapping gives one model keypoint to several nodes")
        return KeypointMapping(model_names, nodes, source, "explicit mapping")
    norm = {_norm(n): i for i, n in enumerate(model_names)}
    for j, node in enumerate(nodes):
        source[j] = norm.get(_norm(node), -1)
    if (source >= 0).any():
        return KeypointMapping(model_names, nodes, source, "names")
    if len(model_names) == len(nodes):
        return KeypointMapping(model_names, nodes, np.arange(len(nodes), dtype=np.int64), "order")
    raise KeyskelError(
        f"the model's {len(model_names)} keypoints {list(model_names)} match none of the skeleton's "
        f"{len(nodes)} nodes {list(nodes)} by name, and the counts differ: give a names file or a mapping"
    )


def saved_mapping(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The explicit mapping kept in a store's ``meta`` (None if none)."""
    raw = meta.get(MAPPING_KEY)
    return dict(raw) if isinstance(raw, Mapping) and raw else None


def save_mapping(meta: dict[str, Any], mapping: KeypointMapping | Mapping[str, Any] | None) -> None:
    """Keep an explicit mapping in a store's ``meta`` (None removes it)."""
    if mapping is None:
        meta.pop(MAPPING_KEY, None)
        return
    meta[MAPPING_KEY] = mapping.as_dict() if isinstance(mapping, KeypointMapping) else dict(mapping)
