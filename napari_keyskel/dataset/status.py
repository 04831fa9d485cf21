"""Item statuses (V7's names) and the rules for moving between them.

An item is ``new`` (nobody has labelled it), ``annotate`` (being labelled), ``review`` (labelled,
waiting for a reviewer) or ``complete``. A status carries who set it and when (ISO 8601, UTC).
A file with no status reads as ``new`` when it holds no keypoint annotation, else ``annotate``
(:func:`default_status`). Moving an item to ``complete`` is refused while review flags of its
annotations (:func:`napari_keyskel.assist.review.detect`) have no review state
(:func:`open_flag_count`), unless forced.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..core.annotation_set import AnnotationSet
from ..errors import KeyskelError

__all__ = [
    "STATUSES",
    "Status",
    "check_complete",
    "default_status",
    "has_keypoints",
    "now",
    "open_flag_count",
    "user",
]

#: The statuses an item can have, in the order work goes (V7's names).
STATUSES: tuple[str, ...] = ("new", "annotate", "review", "complete")


def now() -> str:
    """The current time as ISO 8601 text in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def user() -> str:
    """The name of the person at the keyboard (the login name; ``"unknown"`` if there is none)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): getpass raises KeyError or OSError
        return "unknown"


@dataclass(frozen=True)
class Status:
    """An item's status, who set it, and when (both ``None`` for a status read by the default rule)."""

    status: str
    who: str | None = None
    when: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise KeyskelError(f"unknown status {self.status!r} (choose from {', '.join(STATUSES)})")

    @classmethod
    def set_now(cls, status: str, who: str | None = None) -> Status:
        """``status`` set now by ``who`` (default: the login name)."""
        return cls(status, who or user(), now())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"status", "who", "when"}`` (unknown parts left out)."""
        out: dict[str, Any] = {"status": self.status}
        if self.who is not None:
            out["who"] = self.who
        if self.when is not None:
            out["when"] = self.when
        return out

    @classmethod
    def from_dict(cls, raw: Any, where: str = "status") -> Status:
        """Read :meth:`to_dict` output (or a bare status string); :class:`KeyskelError` naming ``where``."""
        if isinstance(raw, str):
            raw = {"status": raw}
        if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), str):
            raise KeyskelError(f"{where}: a status must be an object with a 'status' text, got {raw!r:.80}")
        who, when = raw.get("who"), raw.get("when")
        if who is not None and not isinstance(who, str):
            raise KeyskelError(f"{where}: 'who' must be text, got {who!r:.40}")
        if when is not None and not isinstance(when, str):
            raise KeyskelError(f"{where}: 'when' must be text, got {when!r:.40}")
        try:
            return cls(raw["status"], who, when)
        except KeyskelError as exc:
            raise KeyskelError(f"{where}: {exc}") from None


def has_keypoints(annotations: AnnotationSet) -> bool:
    """True if any store holds a placed node."""
    return any(s.counts()["points"] > 0 for s in annotations.stores)


def default_status(keypoints: bool) -> Status:
    """The status of a file that names none: ``new`` without keypoint annotations, else ``annotate``."""
    return Status("annotate" if keypoints else "new")


def open_flag_count(annotations: AnnotationSet) -> dict[str, int]:
    """Unreviewed review flags of every store, by kind (empty when there are none)."""
    from ..assist.review import detect
    from ..assist.review.states import open_flags

    out: dict[str, int] = {}
    for store in annotations.stores:
        if store.frame_axis is None or not len(store):
            continue
        flags = open_flags(store, detect(store))
        for kind in flags.kind.tolist():
            out[kind] = out.get(kind, 0) + 1
    return out


def check_complete(name: str, annotations: AnnotationSet | None) -> None:
    """Refuse (:class:`KeyskelError`, with the reason) to complete an item with unreviewed flags."""
    if annotations is None:
        return
    flags = open_flag_count(annotations)
    if flags:
        total = sum(flags.values())
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(flags.items()))
        raise KeyskelError(
            f"item {name!r} still has {total} unreviewed review flag{'s' if total != 1 else ''} ({kinds}); "
            "review them first, or force the status"
        )
