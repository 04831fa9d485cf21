#!/usr/bin/env bash
# Install what napari-keyskel needs, idempotently: system packages for a headless X server and
# Qt's xcb platform (Debian/Ubuntu), a virtual environment in .venv, and the package with its
# test extra. Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (fast when done).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KEYSKEL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

log() { printf '[keyskel setup] %s\n' "$*" >&2; }

# -- system packages (X virtual framebuffer, OpenGL, xcb libraries Qt 6 loads) ------------------
APT_PACKAGES=(xvfb xauth libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  xdotool)  # xdotool: the test that types real X key events (tests/test_editor_keys.py)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif ! command -v xvfb-run >/dev/null 2>&1 && [ -z "${DISPLAY:-}" ]; then
  log "not a Debian system: install Xvfb (xvfb-run) and Qt's xcb libraries with your package manager"
fi

# -- virtual environment and the package ----------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  log "Python >= 3.10 is needed ($("$PYTHON" --version 2>&1))"; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.keyskel-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c "import napari_keyskel" 2>/dev/null; then
  log "installing napari-keyskel (editable) with its test extra into $VENV"
  "$VENV/bin/python" -m pip install -q -e "$ROOT[testing]"
  echo "$want" > "$stamp"
fi
