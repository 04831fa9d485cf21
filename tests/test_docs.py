"""What the README and the scripts promise about keys, options and pictures."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_key_binding_is_in_the_readme():
    from napari_keyskel._napari.bindings import KEYS

    readme = (ROOT / "README.md").read_text()
    missing = [k for k, _, _ in KEYS if f"`{k.replace('Control-', 'Ctrl-')}`" not in readme]
    assert not missing, missing
    assert "`Ctrl-S`" in readme and "mouse wheel zooms" in readme


def test_demo_usage_line_matches_its_options():
    usage = next(ln for ln in (ROOT / "scripts" / "demo.sh").read_text().splitlines() if "Usage:" in ln)
    documented = set(re.findall(r"\[(--[a-z-]+)", usage))
    source = (ROOT / "examples" / "launch_demo.py").read_text()
    options = set(re.findall(r'add_argument\("(--[a-z-]+)"', source)) - {"--headless"}
    assert documented == options, (documented, options)


def test_readme_pictures_exist_and_the_script_makes_them():
    readme = (ROOT / "README.md").read_text()
    pictures = set(re.findall(r"!\[[^\]]*\]\((docs/[^)]+)\)", readme))
    ours = {"docs/dock_annotate.png", "docs/dock_skeleton.png", "docs/dock_timeline.png", "docs/loop.gif"}
    ours |= {"docs/skeleton_from_nothing.png", "docs/v7_interpolated.png"}
    assert ours <= pictures  # the dock, timeline and loop pictures (other sections have their own)
    script = (ROOT / "scripts" / "screenshots.py").read_text()
    for pic in sorted(ours):
        assert (ROOT / pic).stat().st_size > 10_000, pic
        assert Path(pic).stem in script, pic
