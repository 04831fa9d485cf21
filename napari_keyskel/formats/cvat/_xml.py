"""CVAT XML 1.1 parsed into plain records (no keyskel model), every value checked.

The layout follows CVAT's own exporter (``cvat/apps/dataset_manager/formats/cvat.py``):

- ``<annotations><version>1.1</version><meta>…</meta>`` then, for video,
  ``<track id label source [group_id]>`` holding one ``<skeleton frame keyframe z_order>``
  per frame, each with ``<points label keyframe outside occluded points="x,y">`` per element
  and ``<attribute name>`` children; for images, ``<image id name width height>`` holding
  ``<skeleton label source z_order [group_id]>`` with ``<points label source outside occluded
  points>`` elements;
- ``<meta><task>`` (or ``<job>``) names ``start_frame``, ``stop_frame``, ``frame_filter``
  (``step=N``), ``size``, ``source`` and ``labels``: a skeleton label (``type`` skeleton,
  ``svg`` with its edges) and one ``points`` label per element with ``parent`` = the skeleton.

Everything that is not a skeleton (boxes, polygons, tags, tracks of other shapes) is kept as
XML text for the writer to put back.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import FormatError

__all__ = ["Document", "Element", "Label", "Skeleton", "Track", "parse"]

_ATTR = re.compile(r'([\w:-]+)="([^"]*)"')
_TAG = re.compile(r"<(circle|line)\b([^>]*)>")


@dataclass
class Label:
    """A label of the task: ``type`` skeleton (with ``nodes`` and ``edges``), points, ..."""

    name: str
    type: str
    parent: str | None = None
    color: str | None = None
    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Element:
    """One element (node) of a skeleton on one frame."""

    label: str
    x: float
    y: float
    outside: bool
    occluded: bool
    keyframe: bool
    attributes: dict[str, str]
    source: str | None = None


@dataclass
class Skeleton:
    """One skeleton shape: on a video track's frame, or on an image."""

    frame: int
    keyframe: bool
    elements: list[Element]
    attributes: dict[str, str]
    z_order: str | None = None
    label: str | None = None
    source: str | None = None
    group_id: str | None = None


@dataclass
class Track:
    """A ``<track>`` of skeletons (video)."""

    id: int
    label: str
    source: str | None
    group_id: str | None
    shapes: list[Skeleton]


@dataclass
class Image:
    """An ``<image>`` (images format): its skeletons, and its other shapes as (place, XML)."""

    id: int
    name: str
    width: int | None
    height: int | None
    skeletons: list[Skeleton]
    others: list[tuple[int, str]]
    extra: dict[str, str]


@dataclass
class Document:
    """A CVAT XML file: its meta, labels and either tracks (video) or images."""

    meta_xml: str
    mode: str
    start_frame: int
    stop_frame: int | None
    step: int
    size: int | None
    source: str | None
    width: int | None
    height: int | None
    labels: list[Label]
    tracks: list[Track]
    images: list[Image]
    other_tracks: list[str]


def _int(text: str | None, what: str, path: Path, where: str | None = None) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise FormatError(f"{what} {text!r} is not a whole number", path, where) from None


def _flag(el: ET.Element, name: str, path: Path, where: str) -> bool:
    value = el.get(name, "0")
    if value not in ("0", "1"):
        raise FormatError(f"{name}={value!r} is neither 0 nor 1", path, where)
    return value == "1"


def _xy(el: ET.Element, path: Path, where: str) -> tuple[float, float]:
    text = el.get("points")
    try:
        x, y = (float(v) for v in str(text).split(","))
    except ValueError:
        raise FormatError(f"points={text!r} is not one point 'x,y'", path, where) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise FormatError(f"points={text!r} is not a finite point", path, where)
    return x, y


def _attributes(el: ET.Element) -> dict[str, str]:
    return {str(a.get("name")): a.text or "" for a in el.findall("attribute")}


def _svg_edges(svg: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Node names by ``data-node-id`` and the edges between them, from a skeleton label's svg."""
    names: dict[str, str] = {}
    lines: list[tuple[str, str]] = []
    for tag, body in _TAG.findall(svg):
        attrs = dict(_ATTR.findall(body))
        if tag == "circle" and "data-node-id" in attrs and "data-label-name" in attrs:
            names[attrs["data-node-id"]] = attrs["data-label-name"]
        elif tag == "line" and "data-node-from" in attrs and "data-node-to" in attrs:
            lines.append((attrs["data-node-from"], attrs["data-node-to"]))
    edges = [(names[a], names[b]) for a, b in lines if a in names and b in names and a != b]
    return list(names.values()), edges


def _labels(task: ET.Element | None) -> list[Label]:
    out: list[Label] = []
    for el in [] if task is None else task.findall("./labels/label"):
        name, kind = el.findtext("name") or "", (el.findtext("type") or "any").strip()
        label = Label(name, kind, el.findtext("parent"), el.findtext("color"))
        if kind == "skeleton":
            label.nodes, label.edges = _svg_edges(el.findtext("svg") or "")
        out.append(label)
    for sk in [x for x in out if x.type == "skeleton"]:  # node order: the element labels' order
        children = [x.name for x in out if x.parent == sk.name]
        if children:
            sk.nodes = children + [n for n in sk.nodes if n not in children]
    return out


_FLAGS = {"0": False, "1": True}


def _element(el: ET.Element, path: Path, where: str, tracked: bool) -> Element:
    """A skeleton element; the fast path reads a well-formed one, the checks say what is wrong."""
    a = el.attrib
    try:
        xs, _, ys = a["points"].partition(",")
        x, y = float(xs), float(ys)
        outside, occluded = _FLAGS[a.get("outside", "0")], _FLAGS[a.get("occluded", "0")]
        keyframe = _FLAGS[a.get("keyframe", "0")] if tracked else True
        if el.tag != "points" or not a.get("label") or not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError
    except (KeyError, ValueError):
        _check_element(el, path, where, tracked)  # raises, naming the place and the reason
        raise  # pragma: no cover - _check_element always raises here
    attributes = _attributes(el) if len(el) else {}
    return Element(a["label"], x, y, outside, occluded, keyframe, attributes, a.get("source"))


def _check_element(el: ET.Element, path: Path, where: str, tracked: bool) -> None:
    label = el.get("label")
    if not label:
        raise FormatError(f"a skeleton element <{el.tag}> has no label", path, where)
    where = f"{where}, element {label!r}"
    if el.tag != "points":
        raise FormatError(f"a skeleton element is <{el.tag}>; keyskel reads <points> elements", path, where)
    _xy(el, path, where)
    for name in ("outside", "occluded", *(("keyframe",) if tracked else ())):
        _flag(el, name, path, where)
    raise FormatError("a skeleton element that cannot be read", path, where)


def _skeleton(el: ET.Element, frame: int, path: Path, where: str, tracked: bool) -> Skeleton:
    elements = [_element(e, path, where, tracked) for e in el if e.tag != "attribute"]
    return Skeleton(
        frame,
        _flag(el, "keyframe", path, where) if tracked else True,
        elements,
        _attributes(el),
        el.get("z_order"),
        el.get("label"),
        el.get("source"),
        el.get("group_id"),
    )


def _track(el: ET.Element, skeletons: set[str], path: Path) -> Track | None:
    label = el.get("label") or ""
    tid = _int(el.get("id"), "track id", path, f"track {el.get('id')!r}")
    kids = list(el)
    if label not in skeletons and not any(k.tag == "skeleton" for k in kids):
        return None
    shapes = []
    for k in kids:
        where = f"track {tid}, frame {k.get('frame')!r}"
        if k.tag != "skeleton":
            raise FormatError(f"<{k.tag}> in the skeleton track of {label!r}", path, where)
        shapes.append(_skeleton(k, _int(k.get("frame"), "frame", path, where), path, where, True))
    return Track(tid, label, el.get("source"), el.get("group_id"), shapes)


def _image(el: ET.Element, path: Path) -> Image:
    iid = _int(el.get("id"), "image id", path, f"image {el.get('id')!r}")
    where = f"image {iid} ({el.get('name')!r})"
    skeletons, others = [], []
    for i, k in enumerate(el):
        if k.tag == "skeleton":
            skeletons.append(_skeleton(k, iid, path, where, False))
        else:  # kept with its place among the image's shapes
            others.append((i, ET.tostring(k, encoding="unicode", short_empty_elements=False).strip()))
    w, h = el.get("width"), el.get("height")
    extra = {k: v for k, v in el.attrib.items() if k not in ("id", "name", "width", "height")}
    return Image(
        iid,
        str(el.get("name") or f"frame_{iid:06d}"),
        None if w is None else _int(w, "width", path, where),
        None if h is None else _int(h, "height", path, where),
        skeletons,
        others,
        extra,
    )


def _first(el: ET.Element | None, *tags: str) -> ET.Element | None:
    """The first child of ``el`` named one of ``tags`` (``None`` if none)."""
    for tag in tags:
        found = None if el is None else el.find(tag)
        if found is not None:
            return found
    return None


def _step(text: str | None, path: Path) -> int:
    m = re.fullmatch(r"\s*step\s*=\s*(\d+)\s*", text or "")
    if not (text or "").strip():
        return 1
    if m is None or int(m.group(1)) < 1:
        raise FormatError(f"frame_filter {text!r} is not 'step=N'", path, "meta")
    return int(m.group(1))


def parse(path: Path, data: bytes) -> Document:
    """The :class:`Document` of a CVAT XML file's bytes.

    Raises
    ------
    FormatError
        Naming the file and the place: not XML, not CVAT's ``<annotations>``, a project export
        of several video tasks, a bad number or flag.

    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FormatError(f"not XML ({exc})", path) from None
    if root.tag != "annotations":
        raise FormatError(f"not a CVAT XML file (its root is <{root.tag}>, not <annotations>)", path)
    meta = root.find("meta")
    task = _first(meta, "task", "job", "project")
    if meta is not None and meta.find("project") is not None and root.find("track") is not None:
        tasks = meta.findall("./project/tasks/task")
        if len(tasks) > 1:
            raise FormatError(
                f"a CVAT project export of {len(tasks)} video tasks: export each task on its own", path
            )
    text = lambda k: None if task is None else task.findtext(k)  # noqa: E731
    labels = _labels(task)
    skeleton_names = {lb.name for lb in labels if lb.type == "skeleton"}
    tracks, others = [], []
    for el in root.findall("track"):
        t = _track(el, skeleton_names, path)
        if t is None:
            others.append(ET.tostring(el, encoding="unicode", short_empty_elements=False).strip())
        else:
            tracks.append(t)
    images = [_image(el, path) for el in root.findall("image")]
    stop = text("stop_frame")
    size = text("size")
    source = meta.findtext("source") if meta is not None else None
    source = source if source is not None else text("source")
    osize = _first(meta, "original_size")
    osize = osize if osize is not None else _first(task, "original_size")
    mode = (text("mode") or ("interpolation" if tracks else "annotation")).strip()
    return Document(
        meta_xml="" if meta is None else ET.tostring(meta, encoding="unicode").strip(),
        mode=mode,
        start_frame=_int(text("start_frame") or "0", "start_frame", path, "meta"),
        stop_frame=None if not (stop or "").strip() else _int(stop, "stop_frame", path, "meta"),
        step=_step(text("frame_filter"), path),
        size=None if not (size or "").strip() else _int(size, "size", path, "meta"),
        source=source,
        width=None if osize is None else _int(osize.findtext("width"), "width", path, "meta"),
        height=None if osize is None else _int(osize.findtext("height"), "height", path, "meta"),
        labels=labels,
        tracks=tracks,
        images=images,
        other_tracks=others,
    )
