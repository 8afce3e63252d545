"""Error analysis: per-class tables, confused pairs, worst mistakes, gallery, tag counts."""

import json
import re

import numpy as np
import pytest
from helpers import read_rows, write_tagged
from matplotlib.image import imread

from nnlab.exceptions import ConfigError, InputValueError, ShapeError
from nnlab.practice.error_analysis import (
    CSV_COLUMNS,
    analyze,
    count_tags,
    format_tag_counts,
    image_shape_for,
    save_gallery,
    write_mistakes_csv,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class StubModel:
    """A model whose outputs are fixed in advance: analyze only needs ``predict``."""

    def __init__(self, outputs):
        self.outputs = np.asarray(outputs, dtype=np.float64)

    def predict(self, x):
        assert len(x) == len(self.outputs)
        return self.outputs


# Three classes, eight dev examples; the wrong ones are marked with their confidence.
Y3 = np.array([0, 0, 0, 1, 1, 1, 2, 2])
P3 = [
    [0.90, 0.05, 0.05],  # 0 -> 0
    [0.20, 0.70, 0.10],  # 0 -> 1  wrong, 0.7
    [0.10, 0.10, 0.80],  # 0 -> 2  wrong, 0.8
    [0.05, 0.90, 0.05],  # 1 -> 1
    [0.60, 0.30, 0.10],  # 1 -> 0  wrong, 0.6
    [0.30, 0.60, 0.10],  # 1 -> 1
    [0.05, 0.90, 0.05],  # 2 -> 1  wrong, 0.9
    [0.20, 0.50, 0.30],  # 2 -> 1  wrong, 0.5
]


@pytest.fixture
def report():
    return analyze(StubModel(P3), np.zeros((8, 64)), Y3, class_names=["cat", "dog", "bird"])


def test_per_class_table_matches_hand_counts(report):
    rows = [(r.label, r.name, r.count, r.errors) for r in report.per_class]
    assert rows == [(0, "cat", 3, 2), (1, "dog", 3, 1), (2, "bird", 2, 2)]
    assert [r.error_rate for r in report.per_class] == pytest.approx([2 / 3, 1 / 3, 1.0])
    assert [r.error_share for r in report.per_class] == pytest.approx([0.4, 0.2, 0.4])
    assert (report.n_examples, report.n_errors, report.error_rate) == (8, 5, 5 / 8)
    np.testing.assert_array_equal(report.predictions, [0, 1, 2, 1, 0, 1, 1, 1])
    np.testing.assert_allclose(report.confidences, [0.9, 0.7, 0.8, 0.9, 0.6, 0.6, 0.9, 0.5])


def test_confused_pairs_are_sorted_by_count_then_pair(report):
    pairs = [(p.true, p.predicted, p.count) for p in report.confused_pairs]
    assert pairs == [(2, 1, 2), (0, 1, 1), (0, 2, 1), (1, 0, 1)]


def test_worst_mistakes_are_the_most_confident_wrong_ones(report):
    assert [m.index for m in report.mistakes] == [6, 2, 1, 4, 7]
    assert [m.confidence for m in report.mistakes] == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert all(m.true != m.predicted for m in report.mistakes)
    assert (report.mistakes[0].true, report.mistakes[0].predicted) == (2, 1)


def test_report_prints_readable_tables_and_plain_data(report):
    text = str(report)
    assert "8 examples, 5 mistakes (error rate 62.50%)" in text
    assert "cat" in text and "66.67%" in text and "40.0%" in text
    assert "bird -> dog" in text
    assert text.index("bird -> dog") < text.index("cat -> dog")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain, JSON-ready
    assert data["errors"] == 5 and data["mistakes"][0] == {
        "index": 6,
        "true": 2,
        "predicted": 1,
        "confidence": 0.9,
    }
    short = report.format(top=2)
    assert "top 2" in short
    assert len(re.findall(r"(?:cat|dog|bird) -> ", short)) == 2 + 2  # 2 pairs, 2 mistakes


def test_sigmoid_output_confidence_is_p_or_one_minus_p():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([[0.2], [0.3], [0.9], [0.95], [0.5]])  # 0.5 is class 0, as in training
    report = analyze(StubModel(p), np.zeros((5, 2)), y)
    np.testing.assert_array_equal(report.predictions, [0, 0, 1, 1, 0])
    np.testing.assert_allclose(report.confidences, [0.8, 0.7, 0.9, 0.95, 0.5])
    assert [(m.index, m.true, m.predicted) for m in report.mistakes] == [
        (3, 0, 1),
        (1, 1, 0),
        (4, 1, 0),
    ]
    assert report.class_names == ["0", "1"]
    assert [(r.count, r.errors) for r in report.per_class] == [(2, 1), (3, 2)]


def test_one_hot_labels_and_a_perfect_model():
    y = np.eye(3)[[0, 1, 2, 1]]
    report = analyze(StubModel(y * 0.8 + 0.2 / 3), np.zeros((4, 1)), y)
    assert report.n_errors == 0 and report.confused_pairs == [] and report.mistakes == []
    assert [r.error_share for r in report.per_class] == [0.0, 0.0, 0.0]
    assert "none" in str(report)


def test_a_class_absent_from_dev_has_no_error_rate():
    outputs = [[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]]
    report = analyze(StubModel(outputs), np.zeros((2, 1)), np.array([0, 0]))
    assert [r.count for r in report.per_class] == [2, 0, 0]
    assert report.per_class[2].error_rate is None
    assert report.confused_pairs[0].predicted == 2


def test_analyze_errors_name_the_problem():
    with pytest.raises(ShapeError, match=r"\(3, K\).*got shape \(2, 3\)"):
        analyze(StubModel(np.full((2, 3), 1 / 3)), np.zeros((2, 1)), [0, 1, 2])
    with pytest.raises(InputValueError, match="probabilities in \\[0, 1\\]"):
        analyze(StubModel([[2.0, -1.0]]), np.zeros((1, 1)), [0])
    with pytest.raises(InputValueError, match="all 3 classes, got 2"):
        analyze(StubModel(P3), np.zeros((8, 1)), Y3, class_names=["a", "b"])
    with pytest.raises(InputValueError, match="empty"):
        analyze(StubModel(np.zeros((0, 2))), np.zeros((0, 1)), np.zeros(0, dtype=int))
    with pytest.raises(InputValueError, match="labels"):
        analyze(StubModel([[0.5, 0.5]]), np.zeros((1, 1)), [-1])


# ------------------------------------------------------------------- gallery
@pytest.mark.parametrize(
    ("shape", "image_shape", "expected"),
    [
        ((3, 784), None, (28, 28)),
        ((3, 64), None, (8, 8)),
        ((3, 8, 8), None, (8, 8)),
        ((3, 8, 8, 1), None, (8, 8)),
        ((3, 6, 5, 3), None, (6, 5, 3)),
        ((3, 90), (6, 5, 3), (6, 5, 3)),
        ((3, 12), (3, 4), (3, 4)),
    ],
)
def test_image_shape_is_inferred_or_given(shape, image_shape, expected):
    assert image_shape_for(np.zeros(shape), image_shape) == expected


@pytest.mark.parametrize(
    ("shape", "image_shape"), [((3, 2), None), ((3, 4), None), ((3, 64), (7, 9))]
)
def test_non_image_data_is_refused(shape, image_shape):
    with pytest.raises(ShapeError, match="save_gallery"):
        image_shape_for(np.zeros(shape), image_shape)


def test_gallery_is_a_small_png_with_one_panel_per_mistake(report, tmp_path):
    x_dev = np.random.default_rng(0).integers(0, 256, size=(8, 64)).astype(np.uint8)
    path = save_gallery(report, x_dev, tmp_path / "sub" / "gallery.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert 1_000 < path.stat().st_size < 200_000
    assert imread(path).shape[:2] == (266, 357)  # 5 mistakes: 2 rows x 3 columns at 70 dpi
    one = save_gallery(report, x_dev, tmp_path / "one.png", n=1)
    assert imread(one).shape[:2] == (133, 119)  # a single panel


def test_gallery_refuses_planar_data_and_a_wrong_dev_set(report, tmp_path):
    with pytest.raises(ShapeError, match=r"shape \(2,\)"):
        save_gallery(report, np.zeros((8, 2)), tmp_path / "g.png")
    with pytest.raises(ShapeError, match="x_dev has 7 examples but the report has 8"):
        save_gallery(report, np.zeros((7, 64)), tmp_path / "g.png")
    with pytest.raises(ConfigError, match="n must be an integer >= 1, got 0"):
        save_gallery(report, np.zeros((8, 64)), tmp_path / "g.png", n=0)
    assert not (tmp_path / "g.png").exists()


# --------------------------------------------------------- CSV and tag counts


def test_mistakes_csv_has_one_row_per_mistake_worst_first(report, tmp_path):
    header, rows = read_rows(write_mistakes_csv(report, tmp_path / "errors" / "m.csv"))
    assert (
        tuple(header)
        == CSV_COLUMNS
        == ("index", "true", "predicted", "confidence", "tags", "notes")
    )
    assert [int(r["index"]) for r in rows] == [6, 2, 1, 4, 7]
    assert [(r["true"], r["predicted"]) for r in rows][:2] == [("bird", "dog"), ("cat", "bird")]
    assert [float(r["confidence"]) for r in rows] == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert all(r["tags"] == "" and r["notes"] == "" for r in rows)


def test_count_tags_counts_each_tag_once_per_mistake(tmp_path):
    path = write_tagged(
        tmp_path / "tagged.csv",
        ["blurry, Mislabeled", "BLURRY ; dark", "", " mislabeled ", "blurry,blurry", ";"],
    )
    counts = count_tags(path)
    assert (counts["mistakes"], counts["tagged"], counts["untagged"]) == (6, 4, 2)
    assert list(counts["tags"]) == ["blurry", "mislabeled", "dark"]
    assert [e["count"] for e in counts["tags"].values()] == [3, 2, 1]
    assert [e["percent"] for e in counts["tags"].values()] == pytest.approx([50, 100 / 3, 100 / 6])
    table = format_tag_counts(counts)
    assert "6 mistakes, 4 tagged, 2 untagged" in table
    lines = table.splitlines()
    assert lines[2].split() == ["blurry", "3", "50.0%"]
    assert lines[3].split() == ["mislabeled", "2", "33.3%"]


def test_count_tags_of_an_untagged_csv_and_bad_files(report, tmp_path):
    counts = count_tags(write_mistakes_csv(report, tmp_path / "m.csv"))
    assert counts == {"mistakes": 5, "tagged": 0, "untagged": 5, "tags": {}}
    assert "no tags yet" in format_tag_counts(counts)
    with pytest.raises(InputValueError, match="does not exist"):
        count_tags(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("index,label\n1,2\n")
    with pytest.raises(InputValueError, match="'tags' column.*got index, label"):
        count_tags(tmp_path / "bad.csv")
