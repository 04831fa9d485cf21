"""The package's boundaries: the core imports neither Qt nor napari; npe2 finds the manifest."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_neither_qt_nor_napari():
    code = (
        "import sys, importlib, pkgutil\n"
        "import napari_keyskel\n"
        "core = [m.name for m in pkgutil.walk_packages(napari_keyskel.__path__, 'napari_keyskel.')\n"
        "        if not m.name.split('.')[1] in ('_napari', '_qt', 'api')]\n"
        "for name in core:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "             ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'vispy', 'magicgui'))\n"
        "importlib.import_module('napari_keyskel._napari.labels')  # label placement: pure numpy\n"
        "print(len(core), bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr + out.stdout
    n_core = int(out.stdout.split()[0])
    assert n_core >= 6  # skeleton, store, presets, dataset, plain, synthetic, formats...


def test_manifest_is_the_top_level_file():
    link = ROOT / "napari_keyskel" / "napari.yaml"
    assert link.resolve() == (ROOT / "napari.yaml").resolve()


def test_npe2_discovers_plugin_and_every_python_name_imports():
    npe2 = Path(sys.executable).with_name("npe2")
    out = subprocess.run(
        [str(npe2), "validate", "napari-keyskel", "--imports"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout.lower()


@pytest.mark.slow
def test_wheel_ships_manifest_and_entry_point(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0 and "No module named build" in out.stderr:
        pytest.fail("the 'build' package is missing from the test environment")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = tmp_path.glob("napari_keyskel-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        manifest = zf.read("napari_keyskel/napari.yaml").decode()
        (ep_name,) = [n for n in names if n.endswith("entry_points.txt")]
        entry_points = zf.read(ep_name).decode()
    assert manifest == (ROOT / "napari.yaml").read_text()
    assert "napari-keyskel = napari_keyskel:napari.yaml" in entry_points
    assert "keyskel = napari_keyskel.cli:main" in entry_points
    # npe2 reads the manifest from an installed wheel (not the source tree)
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import napari_keyskel\n"
        "assert napari_keyskel.__file__.startswith(sys.argv[1]), napari_keyskel.__file__\n"
        "from npe2 import PluginManifest\n"
        "mf = PluginManifest.from_distribution('napari-keyskel')\n"
        "print(mf.name, len(mf.contributions.commands), mf.package_metadata.version)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("napari-keyskel ")


def test_plain_round_trip_shares_arrays():
    from napari_keyskel.core.plain import store_from_plain, store_to_plain
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=12, render=False)
    plain = store_to_plain(store)
    back = store_from_plain(plain)
    assert back.track_ids == store.track_ids and back.skeleton == store.skeleton
    for a, b in zip(store, back, strict=True):
        assert np.shares_memory(a.coords, b.coords)
        np.testing.assert_array_equal(a.visibility, b.visibility)


def test_plain_rejects_inconsistent_arrays():
    from napari_keyskel import StoreError
    from napari_keyskel.core.plain import store_from_plain, store_to_plain
    from napari_keyskel.samples.synthetic import moving_figure

    _, store = moving_figure(n_frames=5, render=False)
    plain = store_to_plain(store)
    plain["tracks"][0]["visibility"] = plain["tracks"][0]["visibility"][:3]
    with pytest.raises(StoreError, match="inconsistent shapes"):
        store_from_plain(plain)


def test_synthetic_ground_truth_matches_rendering():
    from napari_keyskel.samples.synthetic import moving_figure

    video, store = moving_figure(n_frames=6, shape=(128, 160), n_instances=2, seed=3)
    assert video.shape == (6, 128, 160) and video.dtype == np.uint8
    d = store.to_dense()["coords"]
    assert np.isfinite(d).all()
    assert (d[..., 0] >= 0).all() and (d[..., 0] < 128).all() and (d[..., 1] < 160).all()
    # the figure is drawn where the ground truth says: bright at nodes, dark far from them
    f, i, k = 3, 1, store.skeleton.index("body_center")
    y, x = np.round(d[f, i, k]).astype(int)
    assert video[f, y, x] > 150
    assert np.median(video[f]) < 80
