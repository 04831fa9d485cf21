# ruff: noqa: E501
"""Write the CVAT XML test files as CVAT's exporter writes them (run from the repository root).

Layout, element and attribute order, two-decimal coordinates and every-frame tracks with
``keyframe="0"`` in-betweens follow ``cvat/apps/dataset_manager/formats/cvat.py``
(``dump_as_cvat_interpolation``, ``dump_as_cvat_annotation``) and the in-between positions
follow ``TrackManager.get_interpolated_shapes`` in ``cvat/apps/dataset_manager/annotation.py``
(cvat-ai/cvat, develop, read 2025): linear from a keyframe to the next one (outside or not),
nothing after an ``outside`` keyframe, the last keyframe held to ``stop_frame``. The meta
follows ``TaskData.meta_for_task`` and ``_convert_db_labels`` (skeleton ``svg`` with
``data-label-name``, element labels with ``parent``).
"""

from __future__ import annotations

from pathlib import Path

OUT = Path("tests/data")
NODES = ("nose", "left_ear", "right_ear", "tail")
COLORS = ("#fa3253", "#33ddff", "#ff6a4d", "#83e070")
SVG = (
    '&lt;line x1="50.0" y1="20.0" x2="35.0" y2="30.0" stroke="black" data-type="edge" data-node-from="1" '
    'stroke-width="0.5" data-node-to="2"&gt;&lt;/line&gt;'
    '&lt;line x1="50.0" y1="20.0" x2="65.0" y2="30.0" stroke="black" data-type="edge" data-node-from="1" '
    'stroke-width="0.5" data-node-to="3"&gt;&lt;/line&gt;'
    '&lt;line x1="50.0" y1="20.0" x2="50.0" y2="80.0" stroke="black" data-type="edge" data-node-from="1" '
    'stroke-width="0.5" data-node-to="4"&gt;&lt;/line&gt;'
    + "".join(
        f'&lt;circle r="1.5" stroke="black" fill="#b3b3b3" cx="{cx}" cy="{cy}" stroke-width="0.1" '
        f'data-type="element node" data-element-id="{i + 1}" data-node-id="{i + 1}" '
        f'data-label-name="{name}"&gt;&lt;/circle&gt;'
        for i, (name, (cx, cy)) in enumerate(
            zip(NODES, [(50.0, 20.0), (35.0, 30.0), (65.0, 30.0), (50.0, 80.0)])
        )
    )
)


def labels(indent: str) -> list[str]:
    lab = [
        "<label>",
        "  <name>mouse</name>",
        "  <color>#b83df5</color>",
        "  <type>skeleton</type>",
        "  <attributes>",
        "    <attribute>",
        "      <name>posture</name>",
        "      <mutable>True</mutable>",
        "      <input_type>select</input_type>",
        "      <default_value>walking</default_value>",
        "      <values>walking\nrearing\ngrooming</values>",
        "    </attribute>",
        "  </attributes>",
        f"  <svg>{SVG}</svg>",
        "</label>",
    ]
    for name, color in zip(NODES, COLORS):
        lab += ["<label>", f"  <name>{name}</name>", f"  <color>{color}</color>", "  <type>points</type>"]
        if name == "nose":
            lab += [
                "  <attributes>",
                "    <attribute>",
                "      <name>clarity</name>",
                "      <mutable>True</mutable>",
                "      <input_type>radio</input_type>",
                "      <default_value>sharp</default_value>",
                "      <values>sharp\nblurred</values>",
                "    </attribute>",
                "  </attributes>",
            ]
        else:
            lab += ["  <attributes>", "  </attributes>"]
        lab += ["  <parent>mouse</parent>", "</label>"]
    lab += ["<label>", "  <name>cage</name>", "  <color>#aaaaaa</color>", "  <type>rectangle</type>",
            "  <attributes>", "  </attributes>", "</label>"]  # fmt: skip
    return [indent + x for x in ["<labels>", *["  " + y for y in lab], "</labels>"]]


def meta(mode: str, size: int) -> str:
    rows = [
        "<meta>",
        "  <task>",
        "    <id>41</id>",
        f"    <name>{'mice video' if mode == 'interpolation' else 'mice images'}</name>",
        f"    <size>{size}</size>",
        f"    <mode>{mode}</mode>",
        "    <overlap>0</overlap>",
        "    <bugtracker></bugtracker>",
        "    <created>2025-03-04 10:11:12.131415+00:00</created>",
        "    <updated>2025-03-05 09:08:07.060504+00:00</updated>",
        "    <subset>default</subset>",
        "    <start_frame>0</start_frame>",
        f"    <stop_frame>{size - 1}</stop_frame>",
        "    <frame_filter></frame_filter>",
        "    <segments>",
        "      <segment>",
        "        <id>57</id>",
        "        <start>0</start>",
        f"        <stop>{size - 1}</stop>",
        "        <url>http://localhost:8080/api/jobs/63</url>",
        "      </segment>",
        "    </segments>",
        "    <owner>",
        "      <username>annotator</username>",
        "      <email>annotator@example.org</email>",
        "    </owner>",
        "    <assignee></assignee>",
        *labels("    "),
    ]
    if mode == "interpolation":
        rows += ["    <original_size>", "      <width>64</width>", "      <height>48</height>", "    </original_size>",
                 "    <source>mice.mp4</source>"]  # fmt: skip
    rows += ["  </task>", "  <dumped>2025-03-05 09:10:11.121314+00:00</dumped>", "</meta>"]
    return "\n".join("  " + r for r in rows)


# keyframes per element: frame -> (x, y, outside, occluded); per track, its first frame
TRACKS = [
    (0, {
        "nose": {0: (10, 20, 0, 0), 4: (18, 24, 0, 0), 8: (18.5, 24.25, 0, 0)},
        "left_ear": {0: (8, 16, 0, 0), 4: (12, 18, 0, 1), 6: (12, 18, 1, 1)},
        "right_ear": {0: (40, 30, 1, 0), 2: (14, 16, 0, 0), 8: (20, 20, 0, 0)},
        "tail": {0: (30, 40, 0, 0), 4: (34, 41, 0, 0), 8: (34, 41, 1, 0)},
    }),
    (3, {
        "nose": {3: (40, 10, 0, 0), 5: (44, 12, 0, 0), 7: (44, 12, 1, 0)},
        "left_ear": {3: (38, 8, 1, 0), 7: (38, 8, 1, 0)},
        "right_ear": {3: (42, 8, 0, 0), 5: (46, 10, 0, 1), 7: (46, 10, 1, 1)},
        "tail": {3: (50, 20, 0, 0), 5: (52, 22.5, 0, 0), 7: (52, 22.5, 1, 0)},
    }),
]  # fmt: skip
POSTURE = [{0: "walking", 4: "rearing"}, {3: "grooming"}]
CLARITY = [{0: "sharp", 6: "blurred"}, {3: "sharp"}]
SIZE = 12


def shown(keys: dict[int, tuple], f: int) -> tuple | None:
    """(x, y, keyframe, outside, occluded) CVAT writes for an element on frame f, or None."""
    frames = sorted(keys)
    if f in keys:
        x, y, out, occ = keys[f]
        return x, y, 1, out, occ
    before = [k for k in frames if k < f]
    if not before or keys[before[-1]][2]:
        return None
    k0 = before[-1]
    after = [k for k in frames if k > f]
    x0, y0, _, occ = keys[k0]
    if not after:
        return x0, y0, 0, 0, occ
    k1 = after[0]
    x1, y1 = keys[k1][:2]
    t = (f - k0) / (k1 - k0)
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0), 0, 0, occ


def value(changes: dict[int, str], f: int) -> str:
    return changes[max(k for k in changes if k <= f)]


def video() -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        meta("interpolation", SIZE),
    ]
    for tid, (first, elements) in enumerate(TRACKS):
        out.append(f'  <track id="{tid}" label="mouse" source="manual">')
        for f in range(first, SIZE):
            rows = [(n, shown(elements[n], f)) for n in NODES]
            rows = [(n, s) for n, s in rows if s is not None]
            if not rows:
                continue
            key = int(any(s[2] for _, s in rows))
            out.append(f'    <skeleton frame="{f}" keyframe="{key}" z_order="0">')
            for n, (x, y, k, o, c) in rows:
                head = f'      <points label="{n}" keyframe="{k}" outside="{o}" occluded="{c}" points="{x:.2f},{y:.2f}">'
                if n == "nose":
                    out += [
                        head,
                        f'        <attribute name="clarity">{value(CLARITY[tid], f)}</attribute>',
                        "      </points>",
                    ]
                else:
                    out.append(head + "</points>")
            out.append(f'      <attribute name="posture">{value(POSTURE[tid], f)}</attribute>')
            out.append("    </skeleton>")
        out.append("  </track>")
    out.append('  <track id="2" label="cage" source="manual">')
    for f in range(SIZE):
        k = int(f in (0, 11))
        out += [f'    <box frame="{f}" keyframe="{k}" outside="0" occluded="0" xtl="1.00" ytl="2.00" xbr="60.00" ybr="45.00" z_order="0">',
                "    </box>"]  # fmt: skip
    out += ["  </track>", "</annotations>"]
    return "\n".join(out) + "\n"


def images() -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        meta("annotation", 2),
    ]
    poses = [
        [{"nose": (10, 20, 0, 0), "left_ear": (8, 16, 0, 1), "right_ear": (12, 16, 1, 0), "tail": (30, 40, 0, 0)},
         {"nose": (40, 10, 0, 0), "left_ear": (38, 8, 0, 0), "right_ear": (42, 8, 0, 0), "tail": (50, 20, 0, 0)}],
        [{"nose": (11.5, 21.25, 0, 0), "left_ear": (9, 17, 0, 0), "right_ear": (13, 17, 0, 0), "tail": (31, 41, 1, 0)}],
    ]  # fmt: skip
    for i, (name, pose) in enumerate(zip(("cage_a/img_0001.png", "cage_a/img_0002.png"), poses)):
        out.append(f'  <image id="{i}" name="{name}" width="64" height="48">')
        if i == 0:
            out += ['    <box label="cage" source="manual" occluded="0" xtl="1.00" ytl="2.00" xbr="60.00" ybr="45.00" z_order="0">',
                    "    </box>"]  # fmt: skip
        for j, p in enumerate(pose):
            group = ' group_id="1"' if j == 0 else ""
            out.append(f'    <skeleton label="mouse" source="manual" z_order="{j}"{group}>')
            for n in NODES:
                x, y, o, c = p[n]
                head = f'      <points label="{n}" source="manual" outside="{o}" occluded="{c}" points="{x:.2f},{y:.2f}">'
                if n == "nose":
                    out += [head, '        <attribute name="clarity">sharp</attribute>', "      </points>"]
                else:
                    out.append(head + "</points>")
            out.append(f'      <attribute name="posture">{"rearing" if j else "walking"}</attribute>')
            out.append("    </skeleton>")
        out.append("  </image>")
    out.append("</annotations>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    (OUT / "cvat_video_1_1_skeleton_tracks.xml").write_text(video(), encoding="utf-8")
    (OUT / "cvat_images_1_1_skeletons.xml").write_text(images(), encoding="utf-8")
