"""A cached virtual environment holding darwin-py (V7's SDK), used as an independent reader.

darwin-py pins ``rich<14``, which conflicts with napari's npe2, so it can never be a dependency
of the package or live in the test environment: it gets its own venv, created once per version
under ``~/.cache/napari-keyskel/`` (override with ``KEYSKEL_CACHE_DIR``). Creation is guarded by
a file lock and a completion marker, so concurrent test runs are safe and a half-built venv is
rebuilt.

``python tests/_darwinpy_env.py`` creates the venv and prints its interpreter.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

DARWINPY_VERSION = "3.6.3"
_MARKER = "keyskel-complete"

#: Run inside the darwin-py venv: parse each file with darwin-py and print a JSON summary.
#: ``parse_darwin_json`` does not validate against the (downloaded) JSON schema; only the
#: importer's ``validate_schema`` path does, so this needs no network.
PARSE_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from darwin.utils import parse_darwin_json

def node_list(data):
    return [{"name": n.get("name"), "x": n.get("x"), "y": n.get("y"),
             "occluded": n.get("occluded")} for n in data.get("nodes", [])]

def summarise(path):
    af = parse_darwin_json(Path(path))
    out = {"filename": af.filename, "is_video": bool(af.is_video), "annotations": []}
    for a in af.annotations:
        rec = {"class": a.annotation_class.name, "type": a.annotation_class.annotation_type,
               "slot_names": list(a.slot_names or [])}
        if hasattr(a, "frames"):  # VideoAnnotation
            rec["video"] = True
            rec["keyframes"] = {str(k): bool(v) for k, v in a.keyframes.items()}
            rec["frames"] = {}
            for f, fa in a.frames.items():
                t = fa.annotation_class.annotation_type
                rec["frames"][str(f)] = (node_list(fa.data) if t == "skeleton"
                                         else [{"x": fa.data.get("x"), "y": fa.data.get("y")}]
                                         if t == "keypoint" else None)
            rec["segments"] = [list(s) for s in (a.segments or [])]
            rec["interpolated"] = a.interpolated
        else:
            rec["video"] = False
            t = a.annotation_class.annotation_type
            rec["nodes"] = (node_list(a.data) if t == "skeleton"
                            else [{"x": a.data.get("x"), "y": a.data.get("y")}] if t == "keypoint"
                            else None)
        out["annotations"].append(rec)
    return out

t0 = time.perf_counter()
results = [summarise(p) for p in sys.argv[1:]]
elapsed = time.perf_counter() - t0
print(json.dumps({"results": results, "seconds": elapsed}))
"""

#: Run inside the venv: time parse_darwin_json over all *.json files of a folder.
TIME_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from darwin.utils import parse_darwin_json
files = sorted(Path(sys.argv[1]).glob("*.json"))
t0 = time.perf_counter()
n = 0
for p in files:
    af = parse_darwin_json(p)
    n += len(af.annotations)
print(json.dumps({"seconds": time.perf_counter() - t0, "files": len(files), "annotations": n}))
"""


def cache_root() -> Path:
    """Folder holding napari-keyskel's test caches."""
    env = os.environ.get("KEYSKEL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "napari-keyskel"


def venv_dir() -> Path:
    """The darwin-py venv folder (keyed by the darwin-py and Python versions)."""
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache_root() / f"darwinpy-venv-{DARWINPY_VERSION}-{py}"


def venv_python(root: Path | None = None) -> Path:
    """The interpreter of the venv."""
    root = root or venv_dir()
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def existing_python() -> Path | None:
    """The venv interpreter if the venv is complete, else ``None`` (never creates it)."""
    root = venv_dir()
    return venv_python(root) if (root / _MARKER).exists() else None


def ensure_venv(timeout: float = 900) -> Path:
    """Create (once) and return the darwin-py venv's interpreter.

    Raises
    ------
    RuntimeError
        If the venv cannot be created or darwin-py cannot be installed (e.g. no network);
        the message says what failed.
    """
    root = venv_dir()
    if (root / _MARKER).exists():
        return venv_python(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / (root.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        try:
            if (root / _MARKER).exists():
                return venv_python(root)
            if root.exists():  # a half-built venv from an interrupted run
                shutil.rmtree(root)
            venv.EnvBuilder(with_pip=True, clear=True).create(root)
            cmd = [
                str(venv_python(root)),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"darwin-py=={DARWINPY_VERSION}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"could not install darwin-py {DARWINPY_VERSION} into {root} "
                    f"(network needed once):\n{proc.stderr[-3000:]}"
                )
            check = subprocess.run(
                [str(venv_python(root)), "-c", "import darwin.utils"], capture_output=True, text=True
            )
            if check.returncode != 0:
                raise RuntimeError(f"darwin-py installed in {root} but does not import:\n{check.stderr}")
            (root / _MARKER).write_text(DARWINPY_VERSION)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(f"could not create the darwin-py venv in {root}: {exc}") from exc
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return venv_python(root)


def run_in_venv(script: str, args: list[str], python: Path | None = None, timeout: float = 600) -> Any:
    """Run ``script`` with ``args`` in the venv and return its stdout parsed as JSON."""
    py = python or ensure_venv()
    proc = subprocess.run(
        [str(py), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"darwin-py script failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_with_darwinpy(paths: list[Path]) -> list[dict[str, Any]]:
    """darwin-py's view of each file (see :data:`PARSE_SCRIPT`)."""
    return run_in_venv(PARSE_SCRIPT, [str(p) for p in paths])["results"]


if __name__ == "__main__":
    print(ensure_venv())
