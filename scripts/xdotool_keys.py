"""Keyboard traps tried the way a person meets them: a real napari window, a bare X server, xdotool.

Starts ``Xvfb`` with no window manager, napari (this checkout) with a video, and drives it with
``xdotool``: File > Open (Ctrl+O) of a V7 file by typing its path, then Ctrl+O again *without a
click* (after a dialog closes nothing activates the window when no window manager runs), then
types text. It passes when the second Open dialog appears and the typed text stays out of the
layer (no instance stamped by ``T``). Screenshots go to the output folder.

Usage: ``python scripts/xdotool_keys.py [OUT_DIR]`` (needs ``Xvfb``, ``xdotool`` and, for the
screenshots, ImageMagick's ``import``). Exit status 0: no trap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _app(out: Path) -> None:
    """The napari side: a video and a V7 file on disk; the state written to state.json 5x a second."""
    sys.path.insert(0, str(ROOT))
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QDialog

    from napari_keyskel import api, formats
    from napari_keyskel.core.annotation_set import AnnotationSet
    from napari_keyskel.samples.synthetic import moving_figure

    video, store = moving_figure(n_frames=20, shape=(200, 200), key_step=10)
    formats.write(AnnotationSet(stores=[store]), out / "mice.json", "darwin")
    viewer = napari.Viewer()
    viewer.window._qt_window.setGeometry(0, 0, 1400, 900)
    viewer.add_image(video, name="video")

    def dump() -> None:
        app = QApplication.instance()
        layers = [ly for ly in viewer.layers if "keyskel" in ly.metadata]
        canvas = viewer.window._qt_viewer.canvas.native
        corner = canvas.mapToGlobal(canvas.rect().center())
        dialogs = [w for w in app.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
        state = {
            "instances": [len(api.get_store(ly).tracks) for ly in layers],
            "dialogs": [w.windowTitle() for w in dialogs],
            "active": type(app.activeWindow()).__name__ if app.activeWindow() else None,
            "canvas": [corner.x(), corner.y()],
        }
        (out / "state.tmp").write_text(json.dumps(state))
        os.replace(out / "state.tmp", out / "state.json")

    timer = QTimer()
    timer.timeout.connect(dump)
    timer.start(200)
    napari.run()


def _wait(out: Path, ok, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < end:
        try:
            state = json.loads((out / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        if state and ok(state):
            return state
        time.sleep(0.2)
    raise TimeoutError(f"waited {timeout:.0f} s; last state {state}")


def main(out: Path) -> int:
    """Drive napari under a bare Xvfb; 0 when Ctrl+O works after a dialog and typing stamps nothing."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install -y xvfb xdotool)")
            return 2
    out.mkdir(parents=True, exist_ok=True)
    # Xvfb picks a free display itself and writes its number to the pipe (a fixed or guessed
    # number collides with xvfb-run's own server, as it once did in CI)
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        print("Xvfb did not start (no display number)")
        return 2
    display = f":{number}"
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
    env.pop("QT_QPA_PLATFORM", None)
    log = (out / "napari.log").open("w")
    app = subprocess.Popen([sys.executable, __file__, "--app", str(out)], env=env, stdout=log, stderr=log)

    def xdo(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True)

    def shot(name: str) -> None:
        if shutil.which("import"):
            subprocess.run(["import", "-window", "root", str(out / name)], env=env, check=False)

    try:
        state = _wait(out, lambda s: True, 120)
        x, y = state["canvas"]
        xdo("mousemove", str(x), str(y))
        xdo("click", "1")  # the person clicks into the window first
        _wait(out, lambda s: s["active"] is not None)
        xdo("key", "ctrl+o")
        _wait(out, lambda s: s["dialogs"])
        xdo("type", "--delay", "20", str(out / "mice.json"))
        xdo("key", "Return")
        state = _wait(out, lambda s: s["instances"] and not s["dialogs"])
        print("opened:", state)
        time.sleep(1.0)
        xdo("key", "ctrl+o")  # no click: with no window manager, no window is active now
        try:
            state = _wait(out, lambda s: bool(s["dialogs"]), 10)
            opened = True
        except TimeoutError:
            opened = False
        shot("xdotool_ctrl_o.png")
        xdo("type", "--delay", "60", "ttt")
        time.sleep(1.5)
        after = _wait(out, lambda s: True)
        shot("xdotool_typed.png")
        stamped = after["instances"][0] - state["instances"][0]
        print(f"second Ctrl+O opened the dialog: {opened}; instances stamped by typing: {stamped}")
        return 0 if opened and stamped == 0 else 1
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()
        xvfb.terminate()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--app":
        _app(Path(sys.argv[2]))
    else:
        sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="keys_"))))
