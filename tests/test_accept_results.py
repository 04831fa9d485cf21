"""`keyskel accept` on a real model results file: per-keypoint confidences gate what is accepted,
and the accepted nodes keep their scores through the written file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_keyskel import formats
from napari_keyskel.cli.main import main
from napari_keyskel.core.wording import plural

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "coco_results_confidences.json"
GT = DATA / "coco_results_confidences_gt.json"


def test_accept_results_with_confidences_by_min_score(tmp_path: Path, capsys) -> None:
    results = json.loads(RESULTS.read_text())
    for min_score in (0.5, 0.9):
        want = sorted(v for a in results for v in a["keypoints"][2::3] if v >= min_score)
        out = tmp_path / f"out_{min_score}.json"
        code = main(
            ["accept", str(RESULTS), str(GT), str(out), "--images", str(GT), "--min-score", str(min_score)]
        )
        assert code == 0
        assert f"accepted {plural(len(want), 'node')} into" in capsys.readouterr().out
        store = formats.read(out).stores[0]
        scores = np.concatenate([t.score[t.is_key] for t in store])
        got = sorted(float(x) for x in scores[np.isfinite(scores)])
        np.testing.assert_allclose(got, want, rtol=1e-6)  # exactly the nodes above the gate, scores kept
