"""An annotation set as CVAT XML 1.1, laid out as CVAT's exporter writes it.

Video (``CVAT for video 1.1``): one ``<track>`` per instance with a ``<skeleton>`` on every
frame from its first to its last shown one (CVAT skips frames where every element is outside),
``keyframe="0"`` on in-betweens; an element is written on each frame it shows and on its
``outside`` keyframes; the keyframes are chosen by :func:`._view.choose_keys` so that CVAT shows
our positions on every frame. Images (``CVAT for images 1.1``): one ``<image>`` per frame and
one ``<skeleton>`` per instance on it, every element written (``outside="1"`` where absent).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ...core.annotation_set import AnnotationSet
from ...core.store import OCCLUDED, AnnotationStore, Track
from ._read import CVAT_OFFSET, META
from ._view import ElementKeys, choose_keys, element_view

__all__ = ["to_xml"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _own(meta: Any) -> dict[str, Any]:
    """Keyskel's CVAT extras in a meta dict (``meta["cvat"]``), or an empty dict."""
    own = meta.get(META) if isinstance(meta, dict) else None
    return own if isinstance(own, dict) else {}


def _num(v: float) -> str:
    """A coordinate as CVAT writes it (two decimals), with more where two would change it."""
    two = f"{v:.2f}"
    return two if abs(float(two) - v) < 1e-9 else repr(round(float(v), 6))


def _at(changes: Any, frame: int, default: Any = None) -> Any:
    """The value of a per-frame run (``{"frame": value}`` changes) on ``frame``."""
    if not isinstance(changes, dict):
        return default
    best, value = -1, default
    for k, v in changes.items():
        try:
            f = int(k)
        except (TypeError, ValueError):
            continue
        if best < f <= frame:
            best, value = f, v
    return value


def _attrs(pairs: dict[str, Any]) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs.items() if v is not None)


def _attribute_lines(values: Any, indent: str) -> list[str]:
    if not isinstance(values, dict):
        return []
    return [
        f"{indent}<attribute name={quoteattr(str(k))}>{escape(str(v))}</attribute>" for k, v in values.items()
    ]


def _element(head: str, attrs: Any) -> list[str]:
    """A skeleton element's ``<points>`` lines (empty elements written open and closed, as CVAT does)."""
    if not attrs:
        return [f"      <points {head}></points>"]
    return [f"      <points {head}>", *_attribute_lines(attrs, "        "), "      </points>"]


def _svg(sk: Any) -> str:
    """A skeleton label's svg as CVAT's skeleton editor stores it (nodes on a circle)."""
    k = len(sk.nodes)
    angle = np.linspace(0, 2 * np.pi, k, endpoint=False)
    cx, cy = 50 + 40 * np.sin(angle), 50 - 40 * np.cos(angle)
    lines = [
        f'<line x1="{cx[a]:.2f}" y1="{cy[a]:.2f}" x2="{cx[b]:.2f}" y2="{cy[b]:.2f}" stroke="black" '
        f'data-type="edge" data-node-from="{a + 1}" stroke-width="0.5" data-node-to="{b + 1}"></line>'
        for a, b in sk.edges
    ]
    circles = [
        f'<circle r="1.5" stroke="black" fill="{sk.colors[i]}" cx="{cx[i]:.2f}" cy="{cy[i]:.2f}" '
        f'stroke-width="0.1" data-type="element node" data-element-id="{i + 1}" data-node-id="{i + 1}" '
        f"data-label-name={quoteattr(name)}></circle>"
        for i, name in enumerate(sk.nodes)
    ]
    return "".join(lines + circles)


def _label_elements(store: AnnotationStore) -> list[ET.Element]:
    """The meta ``<label>`` of a skeleton and of each of its elements (``parent`` = the skeleton)."""
    sk = store.skeleton

    def label(
        name: str, color: str, kind: str, parent: str | None = None, svg: str | None = None
    ) -> ET.Element:
        el = ET.Element("label")
        for tag, text in (("name", name), ("color", color), ("type", kind)):
            ET.SubElement(el, tag).text = text
        ET.SubElement(el, "attributes")
        if parent is not None:
            ET.SubElement(el, "parent").text = parent
        if svg is not None:
            ET.SubElement(el, "svg").text = svg
        return el

    out = [label(store.name, sk.colors[0] if sk.colors else "#b3b3b3", "skeleton", svg=_svg(sk))]
    out += [label(n, sk.colors[i], "points", parent=store.name) for i, n in enumerate(sk.nodes)]
    return out


def _same_label(labels: ET.Element, store: AnnotationStore) -> bool:
    """Whether the file's own labels already describe this skeleton (then they are kept as they are)."""
    from ._xml import _labels

    holder = ET.Element("task")
    holder.append(labels)
    for lb in _labels(holder):
        if lb.name == store.name and lb.type == "skeleton":
            sk = store.skeleton
            edges = {frozenset(e) for e in lb.edges}
            return tuple(lb.nodes) == sk.nodes and edges == {
                frozenset((sk.nodes[a], sk.nodes[b])) for a, b in sk.edges
            }
    return False


def _meta(ds: AnnotationSet, mode: str, n: int) -> str:
    """The ``<meta>``: the file's own (labels brought up to date), else one made as CVAT makes it."""
    raw = ds.meta.get(META, {}).get("meta") if isinstance(ds.meta.get(META), dict) else None
    meta = ET.fromstring(raw) if raw else None
    task = None
    if meta is not None:
        task = next((meta.find(t) for t in ("task", "job", "project") if meta.find(t) is not None), None)
    if meta is None or task is None:
        meta, task = _new_meta(ds, mode, n)
    labels = task.find("labels")
    if labels is None:
        labels = ET.SubElement(task, "labels")
    for store in ds.stores:
        if _same_label(labels, store):
            continue
        for el in list(labels):
            if el.findtext("name") == store.name or el.findtext("parent") == store.name:
                labels.remove(el)
        labels.extend(_label_elements(store))
    dumped = meta.find("dumped")
    if dumped is not None:
        dumped.text = str(datetime.now(timezone.utc).astimezone())
    ET.indent(meta, "  ", level=1)
    return "  " + ET.tostring(meta, encoding="unicode", short_empty_elements=False)


def _new_meta(ds: AnnotationSet, mode: str, n: int) -> tuple[ET.Element, ET.Element]:
    now = str(datetime.now(timezone.utc).astimezone())
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    name = Path(ds.source).stem if ds.source else "keyskel"
    first = int(ds.frames[0].get("frame", 0)) if ds.frames and mode == "video" else 0
    fields = [
        ("id", "0"), ("name", name), ("size", str(n)),
        ("mode", "interpolation" if mode == "video" else "annotation"), ("overlap", "0"),
        ("bugtracker", ""), ("created", now), ("updated", now), ("subset", "default"),
        ("start_frame", str(first)), ("stop_frame", str(first + n - 1)), ("frame_filter", ""),
    ]  # fmt: skip
    for tag, text in fields:
        ET.SubElement(task, tag).text = text
    seg = ET.SubElement(ET.SubElement(task, "segments"), "segment")
    for tag, text in (("id", "0"), ("start", "0"), ("stop", str(n - 1)), ("url", "")):
        ET.SubElement(seg, tag).text = text
    ET.SubElement(task, "owner")
    ET.SubElement(task, "assignee")
    ET.SubElement(task, "labels")
    fr = ds.frames[0] if ds.frames else {}
    if mode == "video":
        if fr.get("width") and fr.get("height"):
            size = ET.SubElement(task, "original_size")
            ET.SubElement(size, "width").text = str(fr["width"])
            ET.SubElement(size, "height").text = str(fr["height"])
        ET.SubElement(task, "source").text = Path(str(fr.get("item", "video"))).name
    ET.SubElement(meta, "dumped").text = now
    return meta, task


def _full(track: Track, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, K, 2)`` x, y over every frame of the task (NaN where absent), occluded and keys."""
    k = track.coords.shape[1]
    xy = np.full((n, k, 2), np.nan)
    occluded = np.zeros((n, k), bool)
    key = np.zeros((n, k), bool)
    rows = slice(track.start, min(track.stop, n))
    m = rows.stop - rows.start
    placed = np.isfinite(track.coords[:m, :, 0]) & track.alive[:m, None]
    xy[rows] = np.where(placed[..., None], track.coords[:m, :, ::-1] + CVAT_OFFSET, np.nan)
    occluded[rows] = placed & (track.visibility[:m] == OCCLUDED)
    key[rows] = track.is_key[:m] & track.alive[:m, None]
    return xy, occluded, key


def _outside_at(meta: dict[str, Any], node: str, f: int, default: np.ndarray) -> np.ndarray:
    """The position an ``outside`` keyframe had in the file read (CVAT keeps one), else ``default``."""
    kept = meta.get("outside_xy", {}).get(node, {}) if isinstance(meta.get("outside_xy"), dict) else {}
    xy = kept.get(str(f)) if isinstance(kept, dict) else None
    return np.asarray(xy, float) if isinstance(xy, list) and len(xy) == 2 else default


def _with_outside(keys: ElementKeys, f: int) -> ElementKeys:
    """A one-key list: an ``outside`` keyframe on ``f`` at the element's last keyframe position."""
    before = np.flatnonzero(keys.frames <= f)
    xy = keys.xy[before[-1]] if before.size else np.zeros(2)
    occ = bool(keys.occluded[before[-1]]) if before.size else False
    return ElementKeys(np.array([f]), xy[None], np.array([True]), np.array([occ]))


def _video_track(store: AnnotationStore, t: Track, index: int, n: int, frame_no: list[int]) -> list[str]:
    xy, occluded, key = _full(t, n)
    present = np.isfinite(xy[..., 0])
    if not present.any():
        return []
    first = int(np.flatnonzero(present.any(axis=1))[0])
    meta = _own(t.meta)
    nodes = store.skeleton.nodes
    shown = []
    for i in range(len(nodes)):
        keys = choose_keys(xy[:, i], occluded[:, i], key[:, i], first)
        view = element_view(keys, n)
        at = dict(zip(keys.frames.tolist(), range(keys.frames.size)))
        shown.append((keys, view, at))
    written = np.zeros(n, bool)
    for keys, view, _ in shown:
        written |= view.present
        written[keys.frames] = True
    written[:first] = False
    head = {"id": index, "label": store.name, "source": meta.get("source") or "manual"}
    if meta.get("group_id") not in (None, "0"):
        head["group_id"] = meta["group_id"]
    out = [f"  <track{_attrs(head)}>"]
    element_attrs: dict[str, Any] = _dict(meta.get("element_attributes"))
    for f in np.flatnonzero(written).tolist():
        is_key = any(f in at for _, _, at in shown)
        z = _at(meta.get("z_order"), f, "0")
        out.append(
            f'    <skeleton frame="{frame_no[f]}" keyframe="{int(is_key)}" z_order={quoteattr(str(z))}>'
        )
        gone = not any(view.present[f] for _, view, _ in shown)  # the whole skeleton set outside
        for i, (keys, view, at) in enumerate(shown):
            j = at.get(f)
            if j is None and gone:  # CVAT marks every element outside with its skeleton
                keys, j = _with_outside(keys, f), 0
            if j is None and not view.present[f]:
                continue
            if j is not None:
                x, y = _outside_at(meta, nodes[i], f, keys.xy[j]) if keys.outside[j] else keys.xy[j]
                flags = (1, int(keys.outside[j]), int(keys.occluded[j]))
                where = f"{_num(x)},{_num(y)}"
            else:
                x, y = view.xy[f]
                flags = (0, 0, int(view.occluded[f]))
                where = f"{x:.2f},{y:.2f}"  # an in-between: CVAT recomputes it from the keyframes
            out += _element(
                f'label={quoteattr(nodes[i])} keyframe="{flags[0]}" outside="{flags[1]}" '
                f'occluded="{flags[2]}" points="{where}"',
                _at(element_attrs.get(nodes[i]), f, {}),
            )
        out += _attribute_lines(_at(meta.get("attributes"), f, {}), "      ")
        out.append("    </skeleton>")
    out.append("  </track>")
    return out


def _image_skeletons(ds: AnnotationSet, f: int) -> list[list[str]]:
    """The ``<skeleton>`` blocks (lines) of every instance on frame ``f``."""
    blocks: list[list[str]] = []
    for store in ds.stores:
        nodes = store.skeleton.nodes
        for t in store:
            if not (t.start <= f < t.stop) or not t.alive[f - t.start]:
                continue
            r = f - t.start
            placed = np.isfinite(t.coords[r, :, 0])
            if not (placed.any() or t.is_key[r].any()):
                continue
            meta = _own(t.meta)
            head = {
                "label": store.name,
                "source": _at(meta.get("source"), f, None)
                if isinstance(meta.get("source"), dict)
                else meta.get("source") or "manual",
                "z_order": _at(meta.get("z_order"), f, "0"),
            }
            group = (
                _at(meta.get("group_id"), f, None)
                if isinstance(meta.get("group_id"), dict)
                else meta.get("group_id")
            )
            if group not in (None, "0"):
                head["group_id"] = group
            head["source"] = head["source"] or "manual"
            out = [f"    <skeleton{_attrs(head)}>"]
            centre = t.coords[r, placed].mean(axis=0) if placed.any() else np.zeros(2)
            element_attrs: dict[str, Any] = _dict(meta.get("element_attributes"))
            for i, node in enumerate(nodes):
                y, x = (t.coords[r, i] if placed[i] else centre) + CVAT_OFFSET
                if not placed[i]:
                    x, y = _outside_at(meta, node, f, np.array([x, y]))
                occ = int(placed[i] and t.visibility[r, i] == OCCLUDED)
                out += _element(
                    f"label={quoteattr(node)} source={quoteattr(str(head['source']))} "
                    f'outside="{int(not placed[i])}" occluded="{occ}" points="{_num(x)},{_num(y)}"',
                    _at(element_attrs.get(node), f, {}),
                )
            out += _attribute_lines(_at(meta.get("attributes"), f, {}), "      ")
            out.append("    </skeleton>")
            blocks.append(out)
    return blocks


def _image_body(skeletons: list[list[str]], others: Any) -> list[str]:
    """An image's shapes: the skeletons, with the file's other shapes back in their places."""
    kept = (
        sorted((int(p[0]), str(p[1])) for p in others if isinstance(p, list) and len(p) == 2)
        if isinstance(others, list)
        else []
    )
    blocks = list(skeletons)
    for place, xml in kept:
        blocks.insert(min(place, len(blocks)), ["    " + xml])  # its inner lines keep the file's indent
    return [line for block in blocks for line in block]


def to_xml(ds: AnnotationSet, mode: str) -> str:
    """The CVAT XML 1.1 text of ``ds`` as ``mode`` ``"video"`` or ``"images"``."""
    n = ds.n_frames
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>"]
    lines.append(_meta(ds, mode, n))
    own = _own(ds.meta)
    if mode == "video":
        frame_no = (
            [int(fr.get("frame", f)) for f, fr in enumerate(ds.frames)] if ds.frames else list(range(n))
        )
        index = 0
        for store in ds.stores:
            for t in sorted(store, key=lambda t: t.track_id):
                block = _video_track(store, t, index, n, frame_no)
                index += bool(block)
                lines += block
        lines += ["  " + str(x) for x in own.get("other_tracks", [])]  # inner lines keep the file's indent
    else:
        for f in range(n):
            fr = ds.frames[f] if f < len(ds.frames) else {}
            cv = _own(fr)
            name = str(fr.get("item", f"frame_{f:06d}"))
            if fr.get("frame") and not cv:  # a frame of a video: CVAT names it frame_NNNNNN
                name = f"frame_{int(fr['frame']):06d}"
            head: dict[str, Any] = {"id": cv.get("id", f), "name": name}
            head.update(cv.get("attributes") or {})
            if fr.get("width") and fr.get("height"):
                head.update(width=fr["width"], height=fr["height"])
            body = _image_body(_image_skeletons(ds, f), cv.get("others"))
            lines += [f"  <image{_attrs(head)}>", *body, "  </image>"]
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"
