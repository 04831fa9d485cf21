"""A DICOM series in napari: slices ordered by position, values rescaled, voxels in millimetres.

Writes the synthetic CT series of the test suite with pydicom (24 slices of 64 x 48, 0.8 x 0.6 mm
pixels, 2.5 mm apart, RescaleSlope 2 / RescaleIntercept -1024, files shuffled), opens the folder
through the plugin's DICOM reader (pydicom too: a dependency of napari-keyskel, so nothing more
to install; compressed series also need ``pip install "napari-keyskel[dicom-codecs]"``), keys a
3-node skeleton on slices 0, 10 and 20 (the slices between fill in), saves it as a V7 Darwin
volume (a ``dicom`` slot: slices are frames) and as COCO keypoints, and reopens both onto the same
voxels.

Run: ``python examples/dicom_volume.py [--out DIR] [--headless]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import _stack_samples as S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="folder for the sample and annotations")
    parser.add_argument("--headless", action="store_true", help="print a summary and exit")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="keyskel-dicom-"))
    out.mkdir(parents=True, exist_ok=True)

    import napari

    from napari_keyskel import api
    from napari_keyskel.core.store import AnnotationStore

    folder, expected = S.write_dicom_series(out / "ct_series")
    viewer = napari.Viewer(title="keyskel: DICOM volume", show=not args.headless)
    (image,) = viewer.open(folder, plugin="napari-keyskel")
    meta = image.metadata["keyskel_stack"]
    print(
        f"{folder.name}: shape {image.data.shape}, scale (mm) {image.scale.tolist()}, "
        f"origin {image.translate.tolist()}"
    )
    print(f"  slice order by {meta['order']}, dz from {meta['dz_source']}, rescale {meta['rescale']}")
    print(f"  read by pydicom, transfer syntax {', '.join(meta['transfer_syntax'])}")
    print(f"  values match the rescaled series: {bool((image.data[12].compute() == expected[12]).all())}")

    n, h, w = S.DICOM_SHAPE
    store = AnnotationStore(S.skeleton(), coord_ndim=2, frame_axis=0, n_frames=n, name="worm")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    for z, pose in S.key_poses(h, w).items():
        for k, node in enumerate(store.skeleton.nodes):
            api.set_node(points, frame=z, instance=1, node=node, coords=pose[k])
    track = store.track(1)
    print(
        f"slice 15 (interpolated) head at voxel {track.coords[15, 0].round(2).tolist()} = "
        f"world {np.round(image.data_to_world([15, *track.coords[15, 0]]), 2).tolist()} mm"
    )

    # V7: a volume is a "dicom" slot whose frames are the slices. The layer was made over the DICOM
    # image, so it knows that (and the slice count: all 24 frames, though the keys stop at slice 20).
    darwin = api.save_layer(points, out / "ct_worm.json", format="darwin")
    coco = api.save_layer(points, out / "ct_worm_coco.json", format="coco")
    for path in (darwin[0], coco[0]):
        (layer,) = api.open_annotations(viewer, path, skeleton=S.skeleton(), image_layer=image)
        diff = abs(api.get_store(layer).track(1).coords - track.coords).max()
        print(f"{path.name}: reopened with largest change {diff:.2e} voxels")
    slot = json.loads(darwin[0].read_text())["item"]["slots"][0]
    print(f"V7 slot: type {slot['type']}, {slot['frame_count']} frames (slices)")
    viewer.dims.set_point(0, image.translate[0] + 15 * image.scale[0])
    if args.headless:
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
