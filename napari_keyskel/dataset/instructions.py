"""Annotation instructions of a dataset: Markdown with images, and a description per node.

The instructions are a Markdown file beside the items, :data:`INSTRUCTIONS_FILE` (images are
referenced relative to it, as any Markdown viewer expects): what each node means, how to treat
occluded and out-of-frame points, dos and don'ts. A node's description lives in the skeleton
file (``<class>.skeleton.json``) as ``"description"`` in the node's entry, beside its name and
colour (the skeleton reader ignores keys it does not know, so the file stays a valid skeleton
file for every reader). The dock shows the instructions when an item opens and on demand, and
the description of the next node to place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core._atomic import atomic_write_bytes, atomic_write_text
from ..core.skeleton import SKELETON_FILE_SUFFIX, Skeleton
from ..errors import FormatError

__all__ = ["INSTRUCTIONS_FILE", "Instructions"]

#: The instructions file beside the items.
INSTRUCTIONS_FILE = "instructions.md"


def _folder(root: Path) -> Path:
    return root if root.is_dir() else root.parent


def _load(path: Path) -> Any:
    from ..formats._jsonio import load_json

    return load_json(path)


@dataclass
class Instructions:
    """The dataset's instructions (Markdown) and node descriptions (``{class: {node: text}}``)."""

    text: str = ""
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    folder: Path | None = None

    skeleton_folder: Path | None = None

    @classmethod
    def load(cls, root: str | Path, skeleton_folder: str | Path | None = None) -> Instructions:
        """The instructions beside ``root`` (a dataset folder, or the folder of a dataset file).

        Node descriptions are read from the skeleton files in ``skeleton_folder`` (default: the same).
        """
        folder = _folder(Path(root))
        sk_folder = Path(skeleton_folder) if skeleton_folder is not None else folder
        md = folder / INSTRUCTIONS_FILE
        try:
            text = md.read_text(encoding="utf-8") if md.is_file() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(f"cannot read the instructions ({exc})", md) from None
        nodes: dict[str, dict[str, str]] = {}
        for where in dict.fromkeys([folder, sk_folder]):  # the skeleton folder's files win
            for sk in sorted(where.glob(f"*{SKELETON_FILE_SUFFIX}")):
                desc = _descriptions(sk)
                if desc:
                    nodes[desc[0]] = desc[1]
        return cls(text, nodes, folder, sk_folder)

    def description(self, cls_name: str, node: str) -> str:
        """The description of ``node`` of class ``cls_name`` (``""`` if none)."""
        return self.nodes.get(cls_name, {}).get(node, "")

    def set_description(self, cls_name: str, node: str, text: str) -> None:
        """Describe a node (an empty text removes the description)."""
        per = self.nodes.setdefault(cls_name, {})
        if text.strip():
            per[node] = text.strip()
        else:
            per.pop(node, None)

    def markdown(self, skeletons: list[Skeleton] | None = None) -> str:
        """The instructions followed by a *Nodes* section listing each node's description."""
        parts = [self.text.strip()] if self.text.strip() else []
        for sk in skeletons or []:
            rows = [
                f"- **{n}**: {self.description(sk.name, n)}" for n in sk.nodes if self.description(sk.name, n)
            ]
            if rows:
                parts.append(f"### Nodes of {sk.name}\n\n" + "\n".join(rows))
        return "\n\n".join(parts) or "*No instructions for this dataset yet.*"

    def save(self, skeletons: list[Skeleton] | None = None, folder: str | Path | None = None) -> list[Path]:
        """Write the instructions file and the descriptions into each class's skeleton file.

        A class with descriptions but no skeleton file gets one from ``skeletons``.
        """
        where = Path(folder) if folder is not None else self.folder
        if where is None:
            raise FormatError("the instructions have no folder to be saved in")
        where = _folder(where)
        sk_where = self.skeleton_folder if self.skeleton_folder is not None and folder is None else where
        out = [atomic_write_text(where / INSTRUCTIONS_FILE, self.text)] if self.text.strip() else []
        by_name = {sk.name: sk for sk in skeletons or []}
        for cls_name, desc in self.nodes.items():
            fname = f"{cls_name}{SKELETON_FILE_SUFFIX}"
            path = next((p for p in (sk_where / fname, where / fname) if p.is_file()), sk_where / fname)
            if path.is_file():
                data = _load(path)
            elif cls_name in by_name:
                data = by_name[cls_name].to_dict()
            else:
                continue
            out.append(_write_descriptions(path, data, desc))
        return out


def _descriptions(path: Path) -> tuple[str, dict[str, str]] | None:
    """``(class name, {node: description})`` of a skeleton file, or None when it has none."""
    try:
        data = _load(path)
    except FormatError:
        return None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    out = {
        str(n["name"]): str(n["description"])
        for n in nodes or []
        if isinstance(n, dict) and isinstance(n.get("description"), str) and n.get("name") is not None
    }
    if not out:
        return None
    name = data.get("name") if isinstance(data.get("name"), str) else path.name[: -len(SKELETON_FILE_SUFFIX)]
    return str(name), out


def _write_descriptions(path: Path, data: Any, desc: dict[str, str]) -> Path:
    from ..formats._jsonio import dumps_json

    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise FormatError("not a skeleton file: no 'nodes' list", path)
    nodes = []
    for n in data["nodes"]:
        n = dict(n) if isinstance(n, dict) else {"name": n}
        if str(n.get("name")) in desc:
            n["description"] = desc[str(n["name"])]
        else:
            n.pop("description", None)
        nodes.append(n)
    return atomic_write_bytes(path, dumps_json({**data, "nodes": nodes}, indent=True) + b"\n")
