"""Where to label next: the frames of a video (or of many items) most worth labelling.

Diverse in appearance, as DeepLabCut and SLEAP pick them: every candidate frame is shrunk to a
small grey thumbnail (:func:`thumbnails`; frames are read a few at a time, so a long video is
never held whole, nor any frame at full size for longer than its shrinking), the thumbnails are
projected on their first principal components, and clustered by a full k-means (Lloyd's
algorithm from k-means++ seeds, several starts, the lowest inertia kept) into ``n`` clusters;
each cluster gives its frame nearest the centre (or, with ``motion``, its frame with the largest
change from the candidate before it). DeepLabCut's MiniBatchKMeans on a subsample misses short
scenes about half the time; a full k-means on every candidate does not, since a scene of a few
frames far from the rest is its own cluster at the optimum.

Always exactly ``min(n, candidates)`` distinct frames: a cluster left empty is re-seeded at the
point farthest from its centre, and when the frames are fewer distinct pictures than ``n`` the
rest are filled by farthest-point sampling. Results are sorted. Pure numpy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "candidate_frames",
    "choose",
    "kmeans",
    "pca",
    "suggest_frames",
    "suggest_many",
    "thumbnail",
    "thumbnails",
]

#: Side of the square grey thumbnails compared.
THUMB = 32
#: At most this many candidate frames per video (evenly spaced); every frame below it.
MAX_CANDIDATES = 5000
#: Frames read at once (bounds the memory of full-size frames to this many).
READ_CHUNK = 8


def candidate_frames(n_frames: int, max_candidates: int = MAX_CANDIDATES, exclude: Any = None) -> np.ndarray:
    """Every frame, or ``max_candidates`` evenly spaced ones, minus ``exclude`` (sorted int64)."""
    if n_frames <= max_candidates:
        cand = np.arange(n_frames, dtype=np.int64)
    else:
        cand = np.unique(np.linspace(0, n_frames - 1, max_candidates).round().astype(np.int64))
    if exclude is not None:
        cand = cand[~np.isin(cand, np.asarray(exclude, np.int64))]
    return cand


def _bins(n: int, size: int) -> np.ndarray:
    """Start indices of ``min(n, size)`` near-equal bins over ``range(n)``."""
    return np.unique(np.linspace(0, n, min(n, size) + 1)[:-1].astype(np.intp))


def thumbnail(frame: np.ndarray, size: int = THUMB) -> np.ndarray:
    """A frame ``(y, x[, c])`` as a grey ``(size, size)`` float32 thumbnail (area means).

    A large frame is first sampled every few pixels (to about four samples per thumbnail pixel
    along each axis), so shrinking costs the same for any frame size.
    """
    a = np.asarray(frame)
    sy, sx = max(1, a.shape[0] // (4 * size)), max(1, a.shape[1] // (4 * size))
    a = a[::sy, ::sx]
    if a.ndim == 3:
        c = a.shape[-1]
        a = a[..., :3].mean(axis=-1, dtype=np.float32) if c in (3, 4) else a.mean(axis=-1, dtype=np.float32)
    a = np.asarray(a, np.float32)
    ry, rx = _bins(a.shape[0], size), _bins(a.shape[1], size)
    sums = np.add.reduceat(np.add.reduceat(a, ry, axis=0), rx, axis=1)
    counts = np.outer(np.diff(np.r_[ry, a.shape[0]]), np.diff(np.r_[rx, a.shape[1]]))
    small = sums / counts
    if small.shape != (size, size):  # a frame smaller than the thumbnail: repeat its pixels
        yi = np.minimum((np.arange(size) * small.shape[0]) // size, small.shape[0] - 1)
        xi = np.minimum((np.arange(size) * small.shape[1]) // size, small.shape[1] - 1)
        small = small[np.ix_(yi, xi)]
    return small.astype(np.float32)


def thumbnails(
    source: Any, frames: Sequence[int] | np.ndarray, size: int = THUMB, chunk: int = READ_CHUNK
) -> np.ndarray:
    """``(len(frames), size * size)`` float32 thumbnails of ``source[frames]``, read ``chunk`` at a time.

    ``source`` is any array-like over frames (a lazy :class:`~napari_keyskel.media.MediaSource`,
    a dask or numpy array); a source with a ``thumbnails(frames, size)`` method of its own (a
    video reader that shrinks while decoding) is asked directly.
    """
    idx = np.asarray(frames, np.int64)
    own = getattr(source, "thumbnails", None)
    if callable(own):
        return np.asarray(own(idx, size), np.float32).reshape(len(idx), size * size)
    out = np.empty((len(idx), size * size), np.float32)
    for a in range(0, len(idx), chunk):
        part = idx[a : a + chunk]
        block = np.asarray(source[part]) if len(part) > 1 else np.asarray(source[int(part[0])])[None]
        for j, fr in enumerate(block):
            out[a + j] = thumbnail(fr, size).ravel()
        del block
    return out


def pca(
    x: np.ndarray, n_components: int = 20, max_rows: int = 1000, seed: int = 0, overwrite: bool = False
) -> np.ndarray:
    """``x`` (m, d) projected on its first ``n_components`` principal components (m, c), float64.

    The components are those of at most ``max_rows`` rows drawn at random (the covariance of a
    thousand thumbnails already gives the main directions); every row is projected on them.
    ``overwrite``: centre a float32 ``x`` in place (no copy of the thumbnails).
    """
    x = x if overwrite and x.dtype == np.float32 else np.array(x, np.float32)
    x -= x.mean(axis=0)
    c = int(min(n_components, *x.shape))
    if c <= 0:
        return np.zeros((x.shape[0], 0))
    rows = x
    if len(x) > max_rows:
        rows = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    if rows.shape[1] <= rows.shape[0]:  # the d x d covariance is the small side
        _, v = np.linalg.eigh((rows.T @ rows).astype(np.float64))
        basis = v[:, ::-1][:, :c]
    else:
        _, _, vt = np.linalg.svd(rows.astype(np.float64), full_matrices=False)
        basis = vt[:c].T
    return (x @ basis.astype(np.float32)).astype(np.float64)


def _sqdist(x: np.ndarray, c: np.ndarray, x2: np.ndarray) -> np.ndarray:
    d = x2[:, None] - 2.0 * (x @ c.T) + (c * c).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _plusplus(x: np.ndarray, x2: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds: each next centre drawn with probability proportional to squared distance."""
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(len(x))]
    best = _sqdist(x, centres[:1], x2)[:, 0]
    for j in range(1, k):
        total = best.sum()
        i = int(rng.choice(len(x), p=best / total)) if total > 0 else int(rng.integers(len(x)))
        centres[j] = x[i]
        best = np.minimum(best, _sqdist(x, centres[j : j + 1], x2)[:, 0])
    return centres


def kmeans(
    x: np.ndarray, k: int, n_init: int = 10, max_iter: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Full k-means (Lloyd, k-means++ seeds), best of ``n_init`` starts: labels, centres, inertia."""
    x = np.asarray(x, np.float64)
    m = len(x)
    k = int(min(k, m))
    rng = np.random.default_rng(seed)
    x2 = (x * x).sum(axis=1)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(max(1, n_init)):
        centres = _plusplus(x, x2, k, rng)
        labels = np.full(m, -1)
        for _it in range(max_iter):
            d = _sqdist(x, centres, x2)
            new = d.argmin(axis=1)
            counts = np.bincount(new, minlength=k)
            for j in np.flatnonzero(counts == 0):  # an empty cluster takes the worst-served point
                far = int(d[np.arange(m), new].argmax())
                new[far] = j
                d[far] = 0.0
                counts = np.bincount(new, minlength=k)
            if np.array_equal(new, labels):
                break
            labels = new
            onehot = np.zeros((k, m))
            onehot[labels, np.arange(m)] = 1.0
            centres = (onehot @ x) / np.maximum(counts, 1)[:, None]
        inertia = float(_sqdist(x, centres, x2)[np.arange(m), labels].sum())
        if best is None or inertia < best[2]:
            best = (labels.copy(), centres.copy(), inertia)
    assert best is not None
    return best


def _motion(thumbs: np.ndarray) -> np.ndarray:
    """Mean absolute change of each thumbnail from the one before it (the first: from the next)."""
    if len(thumbs) < 2:
        return np.zeros(len(thumbs))
    step = np.abs(np.diff(thumbs, axis=0)).mean(axis=1)
    return np.r_[step[0], step]


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run small matrix products on one BLAS thread (threadpoolctl, where installed).

    A BLAS thread pool on a busy machine spins: the PCA and k-means of 2,000 thumbnails took
    9 s on two shared cores with OpenBLAS's threads, 0.9 s with one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it, BLAS decides
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def choose(
    thumbs: np.ndarray, n: int, motion: bool = False, seed: int = 0, n_init: int = 10, overwrite: bool = False
) -> np.ndarray:
    """Rows of ``thumbs`` to label: exactly ``min(n, len(thumbs))`` distinct ones (sorted).

    ``overwrite``: the thumbnails may be changed (centred in place: no copy of them is made).
    """
    with _one_blas_thread():
        return _choose(thumbs, n, motion, seed, n_init, overwrite)


def _choose(thumbs: np.ndarray, n: int, motion: bool, seed: int, n_init: int, overwrite: bool) -> np.ndarray:
    m = len(thumbs)
    n = int(min(n, m))
    if n <= 0:
        return np.zeros(0, np.int64)
    moved = _motion(thumbs) if motion else None
    feats = pca(thumbs, 20, seed=seed, overwrite=overwrite)
    labels, centres, _ = kmeans(feats, n, n_init=n_init, seed=seed)
    d = ((feats - centres[labels]) ** 2).sum(axis=1)
    score = -d if moved is None else moved - 1e-9 * d
    order = np.lexsort((-score, labels))  # per cluster, best first
    firsts = np.r_[True, labels[order][1:] != labels[order][:-1]]
    picked = list(order[firsts])
    if len(picked) < n:  # fewer distinct pictures than n: farthest-point fill
        dist = np.full(m, np.inf)
        for p in picked:
            dist = np.minimum(dist, ((feats - feats[p]) ** 2).sum(axis=1))
        dist[picked] = -1.0
        while len(picked) < n:
            p = int(dist.argmax())
            picked.append(p)
            dist = np.minimum(dist, ((feats - feats[p]) ** 2).sum(axis=1))
            dist[picked] = -1.0
    return np.sort(np.asarray(picked[:n], np.int64))


def suggest_frames(
    source: Any,
    n: int,
    *,
    motion: bool = False,
    exclude: Any = None,
    max_candidates: int = MAX_CANDIDATES,
    size: int = THUMB,
    seed: int = 0,
    n_init: int = 10,
) -> np.ndarray:
    """The ``n`` frames of ``source`` (an array-like over frames) worth labelling, sorted.

    Parameters
    ----------
    source
        The frames: a lazy media source, a dask or numpy array ``(t, y, x[, c])``.
    n
        How many frames (exactly, when the candidates are at least as many).
    motion
        Per cluster, the frame that changed most from the candidate before it (else the one
        nearest the cluster's centre).
    exclude
        Frames never suggested (e.g. those already labelled).
    max_candidates
        Longer videos are sampled at this many evenly spaced frames.
    size
        Side of the grey thumbnails compared.
    seed, n_init
        Seed of the k-means++ draws, and how many k-means starts (the lowest inertia wins).

    """
    cand = candidate_frames(len(source), max_candidates, exclude)
    thumbs = thumbnails(source, cand, size)
    return cand[choose(thumbs, n, motion, seed, n_init, overwrite=True)]


def suggest_many(
    sources: Sequence[tuple[str, int]],
    n: int,
    read: Callable[[str, np.ndarray], np.ndarray],
    *,
    motion: bool = False,
    max_candidates: int = MAX_CANDIDATES,
    map: Callable[..., list[Any]] | None = None,
    seed: int = 0,
    exclude: Mapping[str, Any] | None = None,
) -> list[tuple[str, int]]:
    """``n`` frames over many items: ``[(item key, frame), ...]``, diverse over the whole dataset.

    ``sources`` lists ``(item key, number of frames)``; ``read(key, frames)`` returns the items'
    thumbnails (as :func:`thumbnails`); ``map`` runs the reads (e.g. on Dask workers, see
    :class:`napari_keyskel.cli.parallel.Engine`), defaulting to a plain loop. The candidate budget
    is shared out in proportion to the items' lengths (at least one frame each). ``exclude``:
    frames never suggested, per item key.
    """
    total = sum(max(int(f), 0) for _, f in sources)
    if total == 0:
        return []
    jobs = []
    for key, nf in sources:
        share = max(1, round(max_candidates * nf / total)) if nf else 0
        if share:
            cand = candidate_frames(int(nf), share, None if exclude is None else exclude.get(key))
            if cand.size:
                jobs.append((key, cand))
    mapper = map or (lambda f, xs: [f(x) for x in xs])
    parts = mapper(_read_job(read), jobs)
    thumbs = np.concatenate(parts) if parts else np.zeros((0, THUMB * THUMB), np.float32)
    owners = [(key, int(f)) for key, cand in jobs for f in cand.tolist()]
    return [owners[i] for i in choose(thumbs, n, motion, seed, overwrite=True).tolist()]


class _read_job:  # a picklable closure, for Dask workers
    def __init__(self, read: Callable[[str, np.ndarray], np.ndarray]) -> None:
        self.read = read

    def __call__(self, job: tuple[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.read(*job), np.float32)
