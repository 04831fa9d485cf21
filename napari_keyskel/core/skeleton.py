"""The skeleton definition: named nodes, edges, per-node colours, left/right flip pairs, OKS sigmas.

A :class:`Skeleton` is immutable and validates itself on construction; editing methods return
a new skeleton. Its file form is plain JSON (see :meth:`Skeleton.to_dict`), with edges and
pairs written by node *name* so a file stays readable and robust to node reordering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SkeletonError
from ._atomic import atomic_write_text
from .wording import at_path, plural

__all__ = ["DEFAULT_PALETTE", "SKELETON_FILE_SUFFIX", "Skeleton", "check_class_name"]

#: Suffix of skeleton files (``<name>.skeleton.json``).
SKELETON_FILE_SUFFIX = ".skeleton.json"

#: Colours given to nodes that have none (Okabe-Ito then tab10-like; readable on dark images).
DEFAULT_PALETTE: tuple[str, ...] = (
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#ffffff",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a",
)  # fmt: skip

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_FORMAT_TAG = "keyskel-skeleton"
_FORMAT_VERSION = 1
_NEW_NODE_SIGMA = 0.05  # matching.DEFAULT_SIGMA, for a node added to a skeleton with sigmas


def _as_pairs(raw: Any, what: str) -> list[tuple[Any, Any]]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return list(raw.items())
    try:
        pairs = [tuple(p) for p in raw]
    except TypeError as exc:
        raise SkeletonError(f"{what} must be a list of pairs, got {raw!r}") from exc
    for p in pairs:
        if len(p) != 2:
            raise SkeletonError(f"each of {what} must have exactly two entries, got {list(p)!r}")
    return pairs


@dataclass(frozen=True)
class Skeleton:
    """Immutable keypoint skeleton.

    Parameters
    ----------
    nodes
        Unique, non-empty node names, in order (the order of COCO keypoints / V7 class nodes).
    edges
        Pairs of node indices or names; stored as sorted-free ``(i, j)`` index pairs.
    colors
        One ``"#rrggbb"`` colour per node; defaults to :data:`DEFAULT_PALETTE`.
    flip_pairs
        Left/right pairs (indices or names), as pairs or as a symmetric ``{a: b, b: a}`` mapping.
    name
        Name of the skeleton (e.g. the V7 class or COCO category name).
    sigmas
        Optional per-node OKS constants (COCO's ``kpt_oks_sigmas``), positive; ``None`` lets
        :func:`napari_keyskel.assist.matching.default_sigmas` choose (COCO's for the person, else 0.05).
    descriptions
        What each node means, for annotators (``""``: none); written in the node's entry of the
        skeleton file. Not compared: two skeletons differing only in descriptions are equal.

    """

    nodes: tuple[str, ...]
    edges: tuple[tuple[int, int], ...] = ()
    colors: tuple[str, ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    name: str = "skeleton"
    sigmas: tuple[float, ...] | None = None
    descriptions: tuple[str, ...] = field(default=(), compare=False, hash=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __init__(
        self,
        nodes: Iterable[str],
        edges: Iterable[Sequence[int | str]] = (),
        colors: Iterable[str] | None = None,
        flip_pairs: Iterable[Sequence[int | str]] | Mapping[Any, Any] | None = None,
        name: str = "skeleton",
        sigmas: Iterable[float] | None = None,
        descriptions: Iterable[str] | None = None,
    ) -> None:
        node_list = list(nodes) if not isinstance(nodes, str) else [nodes]
        _check_names(node_list)
        index = {n: i for i, n in enumerate(node_list)}
        set_ = object.__setattr__
        set_(self, "nodes", tuple(node_list))
        set_(self, "_index", index)
        set_(self, "name", str(name))
        set_(self, "edges", tuple(self._edge_list(edges)))
        set_(self, "flip_pairs", tuple(self._pair_list(flip_pairs)))
        set_(self, "colors", tuple(self._color_list(colors)))
        set_(self, "sigmas", self._sigma_list(sigmas))
        set_(self, "descriptions", self._description_list(descriptions))

    # -- validation ---------------------------------------------------------------------------
    def _resolve(self, ref: int | str, what: str) -> int:
        if isinstance(ref, (bool, np.bool_)):
            raise SkeletonError(f"{what}: {ref!r} is not a node name or index")
        if isinstance(ref, (int, np.integer)):
            i = int(ref)
            if not 0 <= i < len(self.nodes):
                raise SkeletonError(
                    f"{what}: node index {i} is out of range (skeleton has {plural(len(self.nodes), 'node')})"
                )
            return i
        if isinstance(ref, str):
            if ref not in self._index:
                raise SkeletonError(f"{what}: no node named {ref!r} (nodes: {list(self.nodes)})")
            return self._index[ref]
        raise SkeletonError(f"{what}: {ref!r} is not a node name or index")

    def _edge_list(self, edges: Iterable[Sequence[int | str]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        seen: set[frozenset[int]] = set()
        for a, b in _as_pairs(edges, "edges"):
            i, j = self._resolve(a, "edge"), self._resolve(b, "edge")
            if i == j:
                raise SkeletonError(f"edge ({self.nodes[i]!r}, {self.nodes[j]!r}) is a self-loop")
            key = frozenset((i, j))
            if key in seen:
                raise SkeletonError(f"edge ({self.nodes[i]!r}, {self.nodes[j]!r}) is duplicated")
            seen.add(key)
            out.append((i, j))
        return out

    def _pair_list(self, pairs: Any) -> list[tuple[int, int]]:
        resolved = [
            (self._resolve(a, "flip pair"), self._resolve(b, "flip pair"))
            for a, b in _as_pairs(pairs, "flip_pairs")
        ]
        if isinstance(pairs, Mapping):
            directed = set(resolved)
            for i, j in resolved:
                if (j, i) not in directed:
                    raise SkeletonError(
                        f"flip map is not symmetric: {self.nodes[i]!r} -> {self.nodes[j]!r} "
                        f"but not {self.nodes[j]!r} -> {self.nodes[i]!r}"
                    )
        partner: dict[int, int] = {}
        out: list[tuple[int, int]] = []
        for i, j in resolved:
            if i == j:
                raise SkeletonError(
                    f"flip pair ({self.nodes[i]!r}, {self.nodes[i]!r}) pairs a node with itself"
                )
            for x, y in ((i, j), (j, i)):
                if partner.get(x, y) != y:
                    raise SkeletonError(
                        f"flip pairs are not symmetric: {self.nodes[x]!r} is paired with both "
                        f"{self.nodes[partner[x]]!r} and {self.nodes[y]!r}"
                    )
            if i not in partner:  # (b, a) after (a, b) is the same pair
                partner[i], partner[j] = j, i
                out.append((i, j))
        return out

    def _color_list(self, colors: Iterable[str] | None) -> list[str]:
        if colors is None:
            return [DEFAULT_PALETTE[i % len(DEFAULT_PALETTE)] for i in range(len(self.nodes))]
        cols = list(colors)
        if len(cols) != len(self.nodes):
            raise SkeletonError(f"{len(cols)} colours given for {len(self.nodes)} nodes")
        for n, c in zip(self.nodes, cols, strict=True):
            if not isinstance(c, str) or not _HEX.match(c):
                raise SkeletonError(f"colour of node {n!r} must be '#rrggbb', got {c!r}")
        return [c.lower() for c in cols]

    def _sigma_list(self, sigmas: Iterable[float] | None) -> tuple[float, ...] | None:
        if sigmas is None:
            return None
        try:
            vals = [float(v) for v in sigmas]
        except (TypeError, ValueError) as exc:
            raise SkeletonError(f"OKS sigmas must be numbers, got {sigmas!r}") from exc
        if len(vals) != len(self.nodes):
            raise SkeletonError(f"{len(vals)} OKS sigmas given for {len(self.nodes)} nodes")
        for n, v in zip(self.nodes, vals, strict=True):
            if not (np.isfinite(v) and v > 0):
                raise SkeletonError(f"OKS sigma of node {n!r} must be a positive number, got {v!r}")
        return tuple(vals)

    def _description_list(self, descriptions: Iterable[str] | None) -> tuple[str, ...]:
        if descriptions is None:
            return ("",) * len(self.nodes)
        texts = list(descriptions)
        if len(texts) != len(self.nodes):
            raise SkeletonError(f"{len(texts)} descriptions given for {len(self.nodes)} nodes")
        for n, t in zip(self.nodes, texts, strict=True):
            if not isinstance(t, str):
                raise SkeletonError(f"description of node {n!r} must be text, got {t!r}")
        return tuple(t.strip() for t in texts)

    # -- queries ------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    def index(self, node: int | str) -> int:
        """Index of a node given by name or index; raises :class:`SkeletonError` if unknown."""
        return self._resolve(node, "node")

    def edge_array(self) -> np.ndarray:
        """Edges as an ``(E, 2)`` int array of node indices."""
        return np.asarray(self.edges, dtype=np.intp).reshape(-1, 2)

    def flip_permutation(self) -> np.ndarray:
        """Permutation ``p`` such that ``pose[p]`` is the left/right mirrored node order."""
        perm = np.arange(len(self.nodes))
        for i, j in self.flip_pairs:
            perm[i], perm[j] = j, i
        return perm

    def color_array(self) -> np.ndarray:
        """Node colours as an ``(K, 4)`` float RGBA array in [0, 1]."""
        rgb = [[int(c[k : k + 2], 16) / 255 for k in (1, 3, 5)] + [1.0] for c in self.colors]
        return np.asarray(rgb, dtype=float).reshape(-1, 4)

    # -- editing (returns new skeletons) ------------------------------------------------------
    def _replace(self, **kw: Any) -> Skeleton:
        d: dict[str, Any] = {
            "nodes": self.nodes,
            "edges": self.edges,
            "colors": self.colors,
            "flip_pairs": self.flip_pairs,
            "name": self.name,
            "sigmas": self.sigmas,
            "descriptions": self.descriptions,
        }
        d.update(kw)
        return Skeleton(**d)

    def add_node(self, name: str, color: str | None = None) -> Skeleton:
        """Return a skeleton with one more node at the end."""
        color = color or DEFAULT_PALETTE[len(self.nodes) % len(DEFAULT_PALETTE)]
        sigmas = None if self.sigmas is None else (*self.sigmas, _NEW_NODE_SIGMA)
        return self._replace(
            nodes=(*self.nodes, name),
            colors=(*self.colors, color),
            sigmas=sigmas,
            descriptions=(*self.descriptions, ""),
        )

    def rename_node(self, node: int | str, new_name: str) -> Skeleton:
        """Return a skeleton with one node renamed (edges and pairs follow, being by index)."""
        i = self.index(node)
        nodes = list(self.nodes)
        nodes[i] = new_name
        return self._replace(nodes=nodes)

    def remove_node(self, node: int | str) -> Skeleton:
        """Return a skeleton without one node; its edges and flip pair go with it."""
        return self.remove_nodes([node])

    def remove_nodes(self, nodes: Iterable[int | str]) -> Skeleton:
        """Return a skeleton without these nodes; their edges and flip pairs go with them."""
        gone = {self.index(n) for n in nodes}
        keep = [k for k in range(len(self.nodes)) if k not in gone]
        new = {old: new for new, old in enumerate(keep)}
        return Skeleton(
            [self.nodes[k] for k in keep],
            [(new[a], new[b]) for a, b in self.edges if not gone & {a, b}],
            [self.colors[k] for k in keep],
            [(new[a], new[b]) for a, b in self.flip_pairs if not gone & {a, b}],
            self.name,
            None if self.sigmas is None else [self.sigmas[k] for k in keep],
            [self.descriptions[k] for k in keep],
        )

    def reorder_nodes(self, order: Sequence[int | str]) -> Skeleton:
        """Return a skeleton whose node ``k`` is this skeleton's node ``order[k]``."""
        idx = [self.index(o) for o in order]
        if sorted(idx) != list(range(len(self.nodes))):
            raise SkeletonError(f"reorder needs each of the {len(self.nodes)} nodes exactly once")
        new = {old: new for new, old in enumerate(idx)}
        return Skeleton(
            [self.nodes[k] for k in idx],
            [(new[a], new[b]) for a, b in self.edges],
            [self.colors[k] for k in idx],
            [(new[a], new[b]) for a, b in self.flip_pairs],
            self.name,
            None if self.sigmas is None else [self.sigmas[k] for k in idx],
            [self.descriptions[k] for k in idx],
        )

    def add_edge(self, a: int | str, b: int | str) -> Skeleton:
        """Return a skeleton with the edge ``a``–``b`` added."""
        return self._replace(edges=(*self.edges, (self.index(a), self.index(b))))

    def remove_edge(self, a: int | str, b: int | str) -> Skeleton:
        """Return a skeleton without the edge ``a``–``b`` (in either direction)."""
        key = {self.index(a), self.index(b)}
        if not any({i, j} == key for i, j in self.edges):
            raise SkeletonError(f"there is no edge between {a!r} and {b!r}")
        return self._replace(edges=[e for e in self.edges if set(e) != key])

    def set_color(self, node: int | str, color: str) -> Skeleton:
        """Return a skeleton with one node's colour changed."""
        cols = list(self.colors)
        cols[self.index(node)] = color
        return self._replace(colors=cols)

    def description(self, node: int | str) -> str:
        """What ``node`` means (``""`` when it has no description)."""
        return self.descriptions[self.index(node)]

    def set_description(self, node: int | str, text: str) -> Skeleton:
        """Return a skeleton with one node's description changed (``""`` removes it)."""
        texts = list(self.descriptions)
        texts[self.index(node)] = text
        return self._replace(descriptions=texts)

    def with_descriptions(self, texts: Mapping[str, str]) -> Skeleton:
        """Return a skeleton whose nodes named in ``texts`` (``{node: text}``) get those descriptions."""
        return self._replace(
            descriptions=[texts.get(n, d) for n, d in zip(self.nodes, self.descriptions, strict=True)]
        )

    def renamed(self, name: str) -> Skeleton:
        """Return the skeleton under another class name (the V7 class / COCO category name)."""
        return self._replace(name=check_class_name(name))

    def set_sigmas(self, sigmas: Iterable[float] | None) -> Skeleton:
        """Return a skeleton with these per-node OKS sigmas (``None``: the defaults)."""
        return self._replace(sigmas=None if sigmas is None else tuple(sigmas))

    def set_flip_pair(self, a: int | str, b: int | str | None) -> Skeleton:
        """Pair ``a`` with ``b`` (dropping their old pairs); ``b=None`` just unpairs ``a``."""
        i = self.index(a)
        j = None if b is None else self.index(b)
        pairs = [p for p in self.flip_pairs if i not in p and (j is None or j not in p)]
        if j is not None:
            pairs.append((i, j))
        return self._replace(flip_pairs=pairs)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; edges and flip pairs by node name; a node's OKS ``sigma`` if set."""
        nodes: list[dict[str, Any]] = [
            {"name": n, "color": c} for n, c in zip(self.nodes, self.colors, strict=True)
        ]
        for node, sigma in zip(nodes, self.sigmas or (), strict=False):
            node["sigma"] = sigma
        for node, text in zip(nodes, self.descriptions, strict=True):
            if text:
                node["description"] = text
        return {
            "format": _FORMAT_TAG,
            "version": _FORMAT_VERSION,
            "name": self.name,
            "nodes": nodes,
            "edges": [[self.nodes[i], self.nodes[j]] for i, j in self.edges],
            "flip_pairs": [[self.nodes[i], self.nodes[j]] for i, j in self.flip_pairs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Skeleton:
        """Build from :meth:`to_dict` output (nodes may also be plain name strings)."""
        if not isinstance(data, Mapping):
            raise SkeletonError(f"a skeleton must be a JSON object, got {type(data).__name__}")
        if "nodes" not in data:
            raise SkeletonError("a skeleton needs a 'nodes' list")
        raw_nodes = data["nodes"]
        if not isinstance(raw_nodes, list):
            raise SkeletonError("'nodes' must be a list")
        names: list[Any] = []
        colors: list[Any] = []
        sigmas: list[Any] = []
        texts: list[Any] = []
        for k, n in enumerate(raw_nodes):
            if isinstance(n, Mapping):
                names.append(n.get("name"))
                colors.append(n.get("color") or DEFAULT_PALETTE[k % len(DEFAULT_PALETTE)])
                sigmas.append(n.get("sigma"))
                texts.append(n.get("description") or "")
            else:
                names.append(n)
                colors.append(DEFAULT_PALETTE[k % len(DEFAULT_PALETTE)])
                texts.append("")
        return cls(
            names,
            data.get("edges") or (),
            colors,
            data.get("flip_pairs") or None,
            str(data.get("name", "skeleton")),
            _read_sigmas(names, sigmas),
            texts,
        )

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Skeleton:
        """Read a skeleton file; errors name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, json.JSONDecodeError, SkeletonError) as exc:
            raise SkeletonError(at_path(path, str(exc))) from exc

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the skeleton file atomically; returns the path."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _read_sigmas(names: list[Any], sigmas: list[Any]) -> list[Any] | None:
    """Per-node ``sigma`` entries: all or none (a partial set names the first node lacking one)."""
    if not any(s is not None for s in sigmas):
        return None
    for name, s in zip(names, sigmas, strict=False):
        if s is None:
            raise SkeletonError(f"node {name!r} has no OKS 'sigma' while other nodes have one")
    if len(sigmas) != len(names):
        raise SkeletonError("every node needs an OKS 'sigma' when any has one")
    return sigmas


def check_class_name(name: Any) -> str:
    """``name`` stripped, as a class name (V7 class, COCO category); empty or not text is refused."""
    if not isinstance(name, str) or not name.strip():
        raise SkeletonError(f"a class name must be some text, got {name!r}")
    return name.strip()


def _check_names(names: list[Any]) -> None:
    if not names:
        raise SkeletonError("a skeleton needs at least one node")
    seen: set[str] = set()
    for k, n in enumerate(names):
        if not isinstance(n, str) or not n.strip():
            raise SkeletonError(f"node {k} has no name (got {n!r})")
        if n in seen:
            raise SkeletonError(f"node name {n!r} is used twice")
        seen.add(n)
