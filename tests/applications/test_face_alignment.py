"""Face alignment: nnlab's chips equal dlib's ``get_face_chip`` given dlib's 5 points (to
a grey level in a value or two of 20,000, the rounding of sums taken in another order) (faces small and large, so through dlib's image pyramid too, turned, and near
the picture's edge), its pyramid equals dlib's ``pyramid_down``, the similarity fit is
Umeyama's, and chips from MTCNN's points land near dlib's."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.applications import face_alignment as FA
from nnlab.exceptions import ConfigError, ShapeError

Image = pytest.importorskip("PIL.Image")

ASTRONAUT_FACE = (175, 76, 265, 166)  # dlib's HOG box of the astronaut's face


@pytest.fixture(scope="module")
def dlib():
    return pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def predictor(dlib):
    models = pytest.importorskip("face_recognition_models")
    return dlib.shape_predictor(models.pose_predictor_five_point_model_location())


def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


def assert_same_chip(ours, expected):
    """Equal, but for a grey level here and there: the two compute the same sums in another
    order, and truncation turns 177.99999 and 178.00001 into 177 and 178 (measured: a value
    in 20,000 or none)."""
    assert ours.dtype == expected.dtype == np.uint8 and ours.shape == expected.shape
    differ = ours != expected
    assert np.abs(ours.astype(int) - expected).max() <= 1
    assert differ.mean() < 1e-3, f"{differ.sum()} of {differ.size} values differ"


def dlib_points(dlib, predictor, image, box):
    shape = predictor(image, dlib.rectangle(*[int(round(v)) for v in box]))
    return shape, np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def resized(image, factor):
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


@pytest.mark.parametrize(
    "factor, angle",
    [(1.0, 0), (2.3, 0), (3.0, 0), (6.1, 0), (1.0, 25), (3.7, -40)],
    ids=["as is", "x2.3", "x3 (pyramid)", "x6.1 (2 levels)", "turned 25", "x3.7 turned -40"],
)
def test_chips_equal_dlibs_get_face_chip(dlib, predictor, factor, angle):
    image = astronaut()
    box = np.array(ASTRONAUT_FACE, dtype=np.float64)
    if angle:  # turn about the face's centre, so that the box still holds it
        centre = tuple((box[:2] + box[2:]) / 2)
        image = np.asarray(Image.fromarray(image).rotate(angle, Image.BILINEAR, center=centre))
    image = np.ascontiguousarray(resized(image, factor) if factor != 1 else image)
    shape, points = dlib_points(dlib, predictor, image, box * factor)
    expected = dlib.get_face_chip(image, shape, 150, 0.25)
    assert_same_chip(FA.extract_chip(image, points, "dlib"), expected)
    smaller = dlib.get_face_chip(image, shape, 80, 0.4)  # other sizes and paddings too
    assert_same_chip(FA.extract_chip(image, points, "dlib", 80, 0.4), smaller)


def test_chips_at_the_edge_of_the_picture(dlib, predictor):
    """The astronaut's face cut at the picture's top left: the chip runs out of it, and
    both fill the outside with black."""
    image = np.ascontiguousarray(astronaut()[95:, 200:])
    shape, points = dlib_points(dlib, predictor, image, (-25, -19, 65, 71))
    expected = dlib.get_face_chip(image, shape, 150, 0.25)
    assert (expected[:10, :10] == 0).all()
    assert_same_chip(FA.extract_chip(image, points, "dlib"), expected)


@pytest.mark.parametrize("shape", [(11, 13, 3), (64, 37, 3), (100, 101, 3)])
def test_pyramid_equals_dlibs(dlib, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(FA.pyramid_down(image), dlib.pyramid_down(2)(image))


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (6, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rotation).T + shift
    np.testing.assert_allclose(
        FA.similarity_transform(src, dst), np.column_stack([scale * rotation, shift])
    )
    # a point with weight 0 is ignored however far off it is
    moved = dst.copy()
    moved[5] += 50
    weights = [1, 1, 1, 1, 1, 0]
    np.testing.assert_allclose(
        FA.similarity_transform(src, moved, weights),
        np.column_stack([scale * rotation, shift]),
        atol=1e-9,
    )
    # a mirror image is not a similarity: the best rotation, never a reflection
    mirrored = src * np.array([-1, 1])
    assert np.linalg.det(FA.similarity_transform(src, mirrored)[:, :2]) > 0
    with pytest.raises(ShapeError):
        FA.similarity_transform(src, dst[:5])
    with pytest.raises(ConfigError, match="weights"):
        FA.similarity_transform(src, dst, [0] * 6)


def test_mtcnn_template_is_a_mirror_image_of_itself():
    t = FA.MTCNN_TEMPLATE
    axis = FA.DLIB_TEMPLATE[:4, 0].mean()
    np.testing.assert_allclose(t[[1, 0, 2, 4, 3], 0], 2 * axis - t[:, 0], atol=1e-4)
    np.testing.assert_allclose(t[[1, 0, 2, 4, 3], 1], t[:, 1])
    # MTCNN's eye centres lie between dlib's eye corners, its nose tip above dlib's
    # nose bottom, its mouth below it
    dlib_eyes = (FA.DLIB_TEMPLATE[[2, 0]] + FA.DLIB_TEMPLATE[[3, 1]]) / 2  # image left, right
    np.testing.assert_allclose(t[:2], dlib_eyes, atol=0.03)
    assert t[2, 1] < FA.DLIB_TEMPLATE[4, 1] < t[3, 1]


def test_mtcnn_chip_lands_near_dlibs(dlib, predictor):
    """The astronaut aligned from MTCNN's points (as nnlab faces detect prints them) and
    from dlib's: the chip's corners within 5 chip pixels of each other."""
    image = astronaut()
    _, points = dlib_points(dlib, predictor, image, ASTRONAUT_FACE)
    mtcnn = np.array(
        [(203.4, 100.1), (245.9, 102.7), (224.5, 126.9), (202.0, 138.8), (244.1, 140.8)]
    )
    size = FA.CHIP_SIZE
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], float)

    def to_image(pts, template):
        center, angle, width = FA.chip_transform(pts, template)
        c, s = np.cos(angle), np.sin(angle)
        scale = (width - 1) / (size - 1)
        return center + (corners - (size - 1) / 2) @ (scale * np.array([[c, s], [-s, c]])), width

    ours, _ = to_image(mtcnn, "mtcnn")
    theirs, width = to_image(points, "dlib")
    offset = np.linalg.norm(ours - theirs, axis=1).max() * size / width
    assert offset < 5
    chips = FA.align_faces(image, mtcnn[None])
    assert chips.shape == (1, 150, 150, 3) and chips.dtype == np.uint8
    reference = FA.extract_chip(image, points, "dlib").astype(float)
    assert np.abs(chips[0] - reference).mean() < 10  # of 255


def test_align_faces_checks_its_arguments():
    image = np.zeros((60, 60, 3), np.uint8)
    assert FA.align_faces(image, np.zeros((0, 5, 2))).shape == (0, 150, 150, 3)
    with pytest.raises(ShapeError, match=r"\(k, 5, 2\)"):
        FA.align_faces(image, np.zeros((2, 4, 2)))
    with pytest.raises(ConfigError, match="template"):
        FA.align_faces(image, np.zeros((5, 2)), template="arcface")
    far_away = np.array(FA.chip_points(FA.MTCNN_TEMPLATE, 20)) + 5000
    assert (FA.align_faces(image, far_away) == 0).all()  # wholly outside: black
