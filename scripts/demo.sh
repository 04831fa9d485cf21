#!/usr/bin/env bash
# Launch napari with the keyskel plugin, its docks and the sample data (a synthetic video of moving
# figures keyed every 10th frame, the frames between interpolated). With a display it opens the window; without one it renders
# under Xvfb, saves a screenshot PNG and prints its path.
# Usage: bash scripts/demo.sh [--screenshot PATH] [--frame N]   (--frame: the frame shown, default 15)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [ -n "${DISPLAY:-}" ] && [ -z "${KEYSKEL_HEADLESS:-}" ]; then
  exec "$VENV/bin/python" examples/launch_demo.py "$@"
fi
exec xvfb-run -a -s "-screen 0 1600x1000x24" "$VENV/bin/python" examples/launch_demo.py --headless "$@"
