"""A (t, z, y, x) microscopy hyperstack in napari: open with its voxel size, key a skeleton across z.

Writes the synthetic ImageJ hyperstack of the test suite (4 x 24 x 64 x 64 uint16, 0.25 µm
pixels, 1.5 µm z-spacing, 2 s frame interval), opens it through the plugin's TIFF reader (lazy,
scaled), adds a 3-node skeleton layer whose frames are the z-slices, keys it on slices 0, 10 and 20
(the slices between fill in), saves V7 Darwin JSON and COCO keypoints, and reopens the V7 file.

Run: ``python examples/microscopy_stack.py [--out DIR] [--headless]``
(``--headless`` prints a summary and exits instead of opening the window; use ``xvfb-run -a``
without a display).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import _stack_samples as S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="folder for the sample and annotations")
    parser.add_argument("--headless", action="store_true", help="print a summary and exit")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="keyskel-stack-"))
    out.mkdir(parents=True, exist_ok=True)

    import napari

    from napari_keyskel import api
    from napari_keyskel.core.store import AnnotationStore

    tif, _ = S.write_hyperstack(out)
    viewer = napari.Viewer(title="keyskel: microscopy stack", show=not args.headless)
    (image,) = viewer.open(tif, plugin="napari-keyskel")
    print(f"{tif.name}: shape {image.data.shape} axes {image.axis_labels} scale {image.scale.tolist()}")
    print(f"  units {[str(u) for u in image.units]}, data {type(image.data).__name__} (lazy)")

    _, nz, h, w = S.HYPER_SHAPE
    store = AnnotationStore(S.skeleton(), coord_ndim=2, frame_axis=0, n_frames=nz, name="worm")
    points = api.add_skeleton_layer(viewer, store, image_layer=image)
    for z, pose in S.key_poses(h, w).items():
        for k, node in enumerate(store.skeleton.nodes):
            api.set_node(points, frame=z, instance=1, node=node, coords=pose[k])
    track = store.track(1)
    print(
        f"keys on z = {sorted({int(z) for z in track.is_key.nonzero()[0] + track.start})}; "
        f"slice 5 interpolated: {track.coords[5].round(2).tolist()}"
    )

    darwin = api.save_layer(points, out / "hyperstack_worm.json", format="darwin")
    coco = api.save_layer(points, out / "hyperstack_worm_coco.json", format="coco")
    print("saved", [p.name for p in darwin + coco], "in", out)
    (reopened,) = api.open_annotations(viewer, darwin[0], skeleton=S.skeleton(), image_layer=image)
    same = abs(api.get_store(reopened).track(1).coords - track.coords).max()
    print(f"reopened V7 file: largest change {same:.2e} voxels; layer scale {reopened.scale.tolist()}")
    viewer.dims.set_point(1, 5 * image.scale[1])  # z-slice 5 (world = index * spacing)
    if args.headless:
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
