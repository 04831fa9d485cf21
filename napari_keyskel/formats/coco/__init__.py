"""COCO keypoints: ground-truth files and keypoint results (predictions), read and written.

Mapping (docs/FORMATS.md §2, §3, §4)
------------------------------------
- **3D skeletons in volumes** (stores with (z, y, x) nodes) are written and read by
  :mod:`._volume3d`: one image per slice holding the nodes on it, the full (x, y, z) per node in
  a ``keyskel`` extra (docs/FORMATS.md §4.5). Everything below is about 2-D stores.
- **Categories.** Each category with ``keypoints`` becomes one :class:`AnnotationStore` named
  after it (2-D, ``frame_axis=0``, ``n_frames`` = number of images). Its skeleton is, in this
  order: the ``skeleton`` argument (a :class:`Skeleton` applies to every category with the same
  node names; a ``{category name: Skeleton}`` mapping; or a skeleton-file path), a
  ``<category name>.skeleton.json`` beside the file, our ``keyskel.skeleton`` extra (colours and
  flip pairs), a preset with the same node names (:func:`~napari_keyskel.core.presets.match_preset`:
  its colours and flip pairs, the file's edges), else the category itself. ``skeleton`` is
  1-based in COCO; a 0-based one is detected when the numbering proves it (an index 0, none
  equal to K), and edges pointing outside the nodes are dropped, each with a
  :class:`~napari_keyskel.errors.FormatWarning` naming the file, category and edge. A category
  without node names whose annotations hold keypoints gets nodes ``kp0 .. kp{K-1}``. Nodes are
  always in the category's ``keypoints`` order. Other categories are kept verbatim.
- **Frames.** One frame per image, in ``images`` order (global frame ``f`` = ``images[f]``):
  ``{"item", "frame", "image_id", "file_name", "width", "height", "coco": {other image keys}}``.
  The item and the frame inside it come from the image's ``item`` and ``frame_index`` fields
  (our writer writes both), else a video id (PoseTrack ``vid_id``, COCO-video ``video_id``:
  item ``video_<id>``, frame from the file name's number or the rank in the video), else a file
  name like ``<item>/frame_000123.png`` or ``<item>_frame12.jpg`` (no prefix: item ``"video"``),
  else the image is its own item, frame 0 (a COCO of unrelated images is not a video).
- **Points.** COCO ``x = col``, ``y = row`` (``COCO_OFFSET`` = 0); the store holds ``(y, x)``.
  ``v=2`` visible, ``v=1`` occluded, ``v=0`` an unlabelled key ("not here": its x, y are ignored
  on read and written as 0, except that a point read with v=0 and unchanged since is written back
  as read). In a results file whose third values are not all 0/1/2 they are confidences: the
  node is visible with that score (``Track.score``).
- **Tracks.** The track id is the annotation's ``track_id``, else ``attributes.object_id``, else
  ``instance_id`` (as sleap-io reads them); a string id gets a new integer id and becomes the
  track's name. An id names an instance within one item: on images of different items it gives
  different tracks (the first keeps the id, the others get new ones and write the file's id
  back), alive only on their own item's frames. An annotation with no id is its own one-frame
  track. COCO has no lifespan: a track is alive from its first to its last annotation, unless
  our ``keyskel.track.alive`` extra says otherwise.
- **Keys.** Nodes read are keys (v=0 ones unlabelled keys), unless the annotation carries our
  extra ``"keyskel": {"keyframe": [0/1 per node]}``, which the writer adds to every annotation
  where some node is not a key, so keys, interpolated and absent nodes survive a round trip.
  Other extras (scores, track name, meta, id, lifespan): :mod:`._extras`.
- **Writing ground truth.** One ``images`` entry per frame of the frame table, annotated or not
  (``all_frames``; ``False`` keeps only images with annotations): the frame table then survives a
  round trip whole, so frame numbers, unannotated frames between keys and Darwin items come back
  as they were. New images get ``file_name``
  ``<item stem>/frame_<NNNNNN>.png`` (an image item keeps its own name), ``frame_index`` and
  ``item``. One annotation per (track, frame) with a labelled point: ``keypoints``,
  ``num_keypoints`` = count of v > 0, ``bbox`` = ``[x, y, w, h]`` box of the labelled points,
  ``area`` = ``w * h`` (0 for one point; pycocotools' results loader also takes ``area`` from the
  keypoints' box, over every point rather than the labelled ones), and an annotation with only
  unlabelled keys has ``num_keypoints`` 0 (pycocotools ignores it),
  ``iscrowd`` 0, ``track_id`` and ``attributes.object_id``. Categories get ``keypoints``, a
  1-based ``skeleton`` and, if ``oks_sigmas`` is given, ``oks_sigmas`` (K numbers).
- **Writing results.** A list of ``{image_id, category_id, keypoints, score}`` (score from the
  file read, else 1.0); never ``bbox`` (pycocotools would take the box branch). A store with
  scores writes them as the third values (as their decimals); one without writes visibility.

Lossless round trip
-------------------
Everything read but not modelled is kept under a ``"coco"`` key and written back, so
COCO -> AnnotationSet -> COCO gives the same values (annotation order, key order and number text may
differ):

- ``AnnotationSet.meta["coco"]``: ``kind`` (``"ground_truth"`` | ``"results"``), ``top`` (info,
  licenses, unknown top-level keys), ``categories`` and ``annotations`` that are not modelled
  (categories without ``keypoints`` and their annotations, annotations without ``keypoints``).
- ``frame["coco"]``: the image's keys other than id, file_name, width and height.
- ``store.meta["coco"]``: ``category`` (id, supercategory, original ``skeleton``, unknown keys),
  ``skeleton_source``, and ``note`` for a generic skeleton.
- ``Track.meta["coco"]``: ``fields`` (which of track_id / object_id / instance_id held the id;
  ``[]`` = none), ``key`` (a string id), ``ann`` (per frame, as a decimal string: the
  annotation's unmodelled keys: ``id``, ``score``, ``segmentation``, ``iscrowd`` != 0, other
  ``attributes``, unknown keys), ``orig`` (per frame: the original ``keypoints`` and
  ``num_keypoints``/``bbox``/``area``/``iscrowd`` when they differ from our rule, are missing, or
  v=0 points carry junk; written back verbatim while the labelled points are unchanged) and
  ``empty`` (frames whose annotation had no labelled point; written back as such).

Meta of other formats (e.g. ``meta["darwin"]`` of a dataset read from V7) travels in our own
``"keyskel"`` extras: ``{"meta": ...}`` at the top level and in categories, ``{"track": {"name",
"meta"}}`` on a track's first annotation, ``{"frame": {...}}`` in images for frame-table keys that
COCO has no field for. pycocotools and other readers ignore them; a Darwin -> COCO -> Darwin
conversion therefore reproduces the Darwin files. A category's extra also holds the store's
interpolation ``method`` (when not ``"linear"``) and ``bridge_unlabelled`` (when true), read back
into :attr:`~napari_keyskel.core.store.AnnotationStore.method` and ``bridge_unlabelled``.

Results files
-------------
A results list has no images or categories. Pass the ground-truth file (path or parsed dict) as
``images=``: frames and categories then come from it. Without it, each image id becomes its own
item (``"image_<id>"``) and each category a store named ``category_<id>`` whose skeleton is the
``skeleton`` argument (a :class:`Skeleton` with K nodes, or ``{str(category id): Skeleton}``), or
generic nodes ``kp0..kpK-1`` (``store.meta["coco"]["note"]`` says so). Scores are kept per
annotation in ``Track.meta["coco"]["ann"][frame]["score"]``.

Bad input raises :class:`~napari_keyskel.errors.FormatError` naming the file and the place
(``"annotation id 17, field 'keypoints'"``); nothing else escapes :func:`read_coco`
(``benchmarks/fuzz_formats.py`` checks with 10,000 mutated files). ``true``/``false`` are never
read as numbers: when the file's bytes hold either, keypoint values are checked for booleans.

Speed: the file is parsed with orjson and the cyclic garbage collector is paused while the
document is parsed and converted (millions of acyclic containers would otherwise trigger full
collections). The conversion does no Python work per number and little per annotation: each
annotation field is taken as one column with a C-level ``map``, the keypoints of a category become
one ``(N, K, 3)`` array converted in C (``array.fromlist``) and are validated, sorted and grouped
into tracks with numpy; only input that fails a whole-array check is re-read value by value to
name the first error. Writing makes no dict for a plain annotation: its JSON text is cut from
whole-array serialisations (``_write_text.py``) and the file written in pieces. On a 72 MB file
of 150,000 annotations x 17 nodes (``benchmarks/bench_coco.py``, CPU time, a shared machine):
reading takes 1.4x ``orjson.loads`` (0.65x pycocotools), writing 3.1x ``orjson.dumps`` + write
(``json.dumps`` + write: 6.3x); most of the write is orjson writing the keypoints' 7.65 million
floats, which alone takes 0.8x the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from ...core.annotation_set import AnnotationSet
from ...core.skeleton import Skeleton
from ...errors import FormatError
from .._checks import check_path, kept_data_guard
from .._jsonio import dump_chunks, dumps_json, gc_paused
from .._sidefiles import side_file_names
from ._read import SkeletonArg, coco_from_obj, load_coco_json, looks_like_coco
from ._write import coco_chunks, coco_document

__all__ = ["coco_document", "looks_like_coco", "read", "read_coco", "write", "write_coco"]


def read_coco(
    path: str | PathLike[str],
    skeleton: SkeletonArg = None,
    images: str | PathLike[str] | dict[str, Any] | None = None,
) -> AnnotationSet:
    """Read a COCO keypoints ground-truth file or a keypoint results file.

    Parameters
    ----------
    path
        The ``.json`` file.
    skeleton
        A :class:`Skeleton`, ``{category name: Skeleton}``, or a skeleton-file path (see the
        module docstring for how it is matched to categories).
    images
        For a results file only: the ground-truth file (or its parsed dict) whose images and
        categories the results refer to.

    Returns
    -------
    AnnotationSet
        One store per keypoint category; ``frames`` from ``images``.

    """
    p = check_path(path)
    with gc_paused():
        obj, bools = load_coco_json(p)
        ds = coco_from_obj(obj, p, skeleton, images, bools)
        del obj  # freed while the collector is paused: else its first run walks the whole document
    return ds


def write_coco(
    dataset: AnnotationSet,
    path: str | PathLike[str],
    *,
    results: bool = False,
    oks_sigmas: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    all_frames: bool = True,
    skeleton_file: bool = False,
    indent: bool = False,
) -> list[Path]:
    """Write ``dataset`` as a COCO keypoints file (atomically).

    Parameters
    ----------
    dataset
        The stores (one category each) and frame table to write.
    path
        The ``.json`` file to write.
    results
        Write a results list (``image_id``, ``category_id``, ``keypoints``, ``score``) instead of
        ground truth.
    oks_sigmas
        Per-node OKS sigmas written into each category as ``oks_sigmas`` (ground truth only): one
        sequence for every category, or ``{category name: sequence}``; each must have K values.
    all_frames
        Write an image for every frame of the frame table (default), or only for frames with
        annotations.
    skeleton_file
        Also write ``<category>.skeleton.json`` beside the file (keeps colours and flip pairs,
        which COCO cannot hold; :func:`read_coco` picks them up).
    indent
        Pretty-print the JSON.

    Returns
    -------
    list of Path
        The files written: the COCO file, then any skeleton files.

    """
    p = Path(path)
    with gc_paused():
        with kept_data_guard("COCO", p):
            if indent:
                chunks = [
                    dumps_json(
                        coco_document(
                            dataset, results=results, oks_sigmas=oks_sigmas, all_frames=all_frames, path=p
                        ),
                        indent=True,
                    )
                ]
            else:
                chunks = coco_chunks(
                    dataset, results=results, oks_sigmas=oks_sigmas, all_frames=all_frames, path=p
                )
        written = [dump_chunks(p, chunks)]
    if skeleton_file:
        names = side_file_names([s.name for s in dataset.stores])
        for s, fname in zip(dataset.stores, names):
            target = p.parent / fname
            sk = s.skeleton
            sk = Skeleton(sk.nodes, sk.edges, sk.colors, sk.flip_pairs, s.name, descriptions=sk.descriptions)
            try:
                written.append(sk.save(target))
            except OSError as exc:
                raise FormatError(f"cannot write skeleton file ({exc.strerror or exc})", target) from None
    return written


#: The package's face: ``coco.read`` / ``coco.write``.
read, write = read_coco, write_coco
