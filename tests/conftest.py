"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI (CI=true) replays the same examples on every run, so a landing never hangs on a lucky seed;
# local runs stay random and keep finding new cases (a failure prints its reproduction blob).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# imageio-ffmpeg starts ffmpeg with ``preexec_fn=os.setpgrp``: Python code run in the forked child,
# which deadlocks when another thread held a lock at the fork (imageio-ffmpeg issue 58; seen here:
# the suite hung writing a test video while a video reader's read-ahead thread was alive).
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The folder of sample files copied into the repository (see tests/data/README.md)."""
    return DATA


@pytest.fixture(autouse=True)
def _recovery_files_in_tmp(tmp_path_factory, monkeypatch):
    """Autosaved recovery files of a test go to a temporary folder, never the user's cache."""
    monkeypatch.setenv("KEYSKEL_RECOVERY_DIR", str(tmp_path_factory.mktemp("recovery")))


@pytest.fixture
def darwin_file(tmp_path):
    """Two mice over 20 frames keyed every 10th, written as a V7 Darwin file (the saving tests)."""
    from napari_keyskel import formats
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=20, shape=(64, 64), render=False, key_step=10)
    path = tmp_path / "mice.json"
    formats.write(AnnotationSet(stores=[store]), path, "darwin")
    return path
