"""Datasets read through sleap-io: a SLEAP file with many videos, and a DeepLabCut project.

- **SLEAP** (:class:`SleapBackend`): each video of the ``.slp`` file is an item (its frames are
  a run of the file's frame table, :mod:`napari_keyskel.formats.sleap`); an item's annotations
  are its run cut out (:func:`._frames.take`) and a save puts them back (:func:`._frames.put`)
  and writes the file through the sleap-io bridge, atomically.
- **DeepLabCut** (:class:`DlcBackend`): each ``labeled-data/<video>/`` folder of the project is
  an item (its images the media), annotated in its ``CollectedData_<scorer>.h5`` (or ``.csv``),
  read and written by the bridge one item at a time.

Neither format has a field for an item's status: statuses go to a small JSON file beside the
data (:data:`STATUS_SUFFIX` after the ``.slp`` file's stem; :data:`DLC_STATUS_FILE` in the
project), ``{"status": {item: {"status", "who", "when"}}}``, written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotation_set import AnnotationSet
from ..core.skeleton import Skeleton
from ..errors import FormatError, KeyskelError
from ._frames import put, take
from ._media import find_media, kind_of
from .model import Item
from .status import Status, default_status, has_keypoints

__all__ = ["DLC_STATUS_FILE", "STATUS_SUFFIX", "DlcBackend", "SleapBackend"]

STATUS_SUFFIX = ".keyskel-status.json"
DLC_STATUS_FILE = "keyskel-status.json"


class _StatusFile:
    """Statuses kept in a JSON file beside the data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.statuses: dict[str, Status] = {}
        if path.is_file():
            from ..formats._jsonio import load_json

            raw = load_json(path)
            table = raw.get("status") if isinstance(raw, dict) else None
            if not isinstance(table, dict):
                raise FormatError("a status file must hold {'status': {item: status}}", path)
            for k, v in table.items():
                try:
                    self.statuses[str(k)] = Status.from_dict(v, f"item {k!r}")
                except KeyskelError as exc:
                    raise FormatError(str(exc), path) from None

    def set(self, key: str, status: Status) -> Path:
        from ..core._atomic import atomic_write_bytes
        from ..formats._jsonio import dumps_json

        self.statuses[key] = status
        table = {k: v.to_dict() for k, v in self.statuses.items()}
        return atomic_write_bytes(self.path, dumps_json({"status": table}, indent=True) + b"\n")


class SleapBackend:
    """The videos of a SLEAP file as items (see the module docstring)."""

    format = "sleap"

    def __init__(self, path: str | Path) -> None:
        from ..formats.sleap import read_sleap

        self.root = Path(path)
        self.skeleton_folder = self.root.parent
        self.whole = read_sleap(self.root, format="sleap")
        self.status_file = _StatusFile(self.root.with_name(self.root.stem + STATUS_SUFFIX))
        vids = np.asarray([fr.get("sleap_video", 0) for fr in self.whole.frames], np.int64)
        cuts = np.flatnonzero(np.diff(vids)) + 1
        starts, stops = np.r_[0, cuts], np.r_[cuts, len(vids)]
        self.runs: dict[str, tuple[int, int]] = {}
        self._names: dict[str, str] = {}
        for a, b in zip(starts.tolist(), stops.tolist()):
            if b <= a:
                continue
            full = str(self.whole.frames[a].get("item"))
            key = Path(full).name if Path(full).name not in self._names else full
            self.runs[key] = (a, b)
            self._names[key] = full

    def list_items(self) -> list[Item]:
        """One item per video of the file."""
        out = []
        for key, (a, b) in self.runs.items():
            full = Path(self._names[key])
            media = full if full.exists() else find_media(full.name, [self.root.parent])
            kind = (kind_of(media) if media is not None else None) or "video"
            out.append(Item(key=key, name=key, kind=kind, media=media, source=self.root, n_frames=b - a))
        return out

    def header(self, item: Item) -> None:
        """The status from the status file, else by the rule (from the file read on open)."""
        st = self.status_file.statuses.get(item.key)
        item.status = st or default_status(has_keypoints(self.load(item)))

    def load(self, item: Item) -> AnnotationSet:
        """The item's run of frames, cut out of the file's annotations."""
        a, b = self.runs[item.key]
        return take(self.whole, a, b)

    def save(self, item: Item, annotations: AnnotationSet | None, status: Status) -> list[Path]:
        """Put the item back and write the ``.slp`` (when its annotations changed), then its status."""
        from ..formats.sleap import write_sleap

        written = []
        if annotations is not None:
            a, b = self.runs[item.key]
            whole = put(self.whole, annotations, a, b)
            written += write_sleap(whole, self.root, "sleap")
            self.whole = whole
        written.append(self.status_file.set(item.key, status))
        return written

    def skeletons(self) -> list[Skeleton]:
        """The file's skeletons."""
        return [s.skeleton for s in self.whole.stores]


def _scorer(root: Path) -> str:
    import yaml

    cfg = root / "config.yaml"
    try:
        data = yaml.safe_load(cfg.read_text(encoding="utf-8")) if cfg.is_file() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise FormatError(f"cannot read the project's config ({exc})", cfg) from None
    return str((data or {}).get("scorer") or "keyskel")


class DlcBackend:
    """The ``labeled-data`` folders of a DeepLabCut project as items (see the module docstring)."""

    format = "dlc"

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        self.root = p.parent if p.name == "config.yaml" else p
        self.skeleton_folder = self.root
        self.scorer = _scorer(self.root)
        self.status_file = _StatusFile(self.root / DLC_STATUS_FILE)

    def _file(self, folder: Path) -> Path:
        for suffix in (".h5", ".csv"):
            found = sorted(folder.glob(f"CollectedData_*{suffix}"))
            if found:
                return found[0]
        return folder / f"CollectedData_{self.scorer}.h5"

    def list_items(self) -> list[Item]:
        """One item per ``labeled-data/<video>/`` folder."""
        data = self.root / "labeled-data"
        if not data.is_dir():
            raise FormatError("a DeepLabCut project needs a labeled-data folder", self.root)
        out = []
        for folder in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
            n = sum(1 for q in folder.iterdir() if kind_of(q) == "image")
            out.append(
                Item(
                    key=folder.name,
                    name=folder.name,
                    kind="images",
                    media=folder,
                    source=self._file(folder),
                    n_frames=n,
                )
            )
        return out

    def header(self, item: Item) -> None:
        """The status from the status file, else by the rule (a labels file with rows: annotate)."""
        st = self.status_file.statuses.get(item.key)
        item.status = st or default_status(item.source is not None and item.source.exists())

    def load(self, item: Item) -> AnnotationSet:
        """The item's labels, read by the sleap-io bridge (empty when there is no file yet)."""
        from ..formats.sleap import read_sleap

        if item.source is None or not item.source.exists():
            return AnnotationSet()
        return read_sleap(item.source, format="dlc")

    def save(self, item: Item, annotations: AnnotationSet | None, status: Status) -> list[Path]:
        """Write the item's labels file through the bridge (when changed), then its status."""
        from ..formats.sleap import write_sleap

        written = []
        if annotations is not None and annotations.stores and item.source is not None:
            written += write_sleap(annotations, item.source, "dlc")
        written.append(self.status_file.set(item.key, status))
        return written

    def skeletons(self) -> list[Skeleton]:
        """The project's body parts and edges (``config.yaml``)."""
        import yaml

        cfg = self.root / "config.yaml"
        try:
            data: Any = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return []
        parts = data.get("bodyparts") or data.get("multianimalbodyparts")
        if not isinstance(parts, list) or not parts:
            return []
        edges = [tuple(e) for e in data.get("skeleton") or [] if isinstance(e, list) and len(e) == 2]
        try:
            return [Skeleton([str(p) for p in parts], edges, name=str(data.get("Task") or "dlc"))]
        except KeyskelError:
            return []
