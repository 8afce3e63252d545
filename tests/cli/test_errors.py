"""`nnlab errors`: tables, gallery, confusion matrix and mistakes CSV of a run; tag counts."""

import json

import numpy as np
from helpers import read_rows, write_tagged

from nnlab.cli.main import main
from nnlab.practice.error_analysis import CSV_COLUMNS, count_tags

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train_tiny(run, *extra):
    assert (
        main(["train", "--layers", "4", "--epochs", "2", "--quiet", "--out", str(run), *extra]) == 0
    )


def test_cli_on_planar_skips_the_gallery_with_a_note(tmp_path, capsys):
    run = tmp_path / "run"
    train_tiny(run, "--dataset", "planar")
    capsys.readouterr()
    assert main(["errors", str(run)]) == 0
    out = capsys.readouterr().out
    assert "class" in out and "error rate" in out and "all" in out
    assert "note: no gallery" in out
    assert not (run / "errors" / "gallery.png").exists()
    csv_path = run / "errors" / "dev_mistakes.csv"
    assert str(csv_path) in out
    _, rows = read_rows(csv_path)
    dev = json.loads((run / "metrics.json").read_text())["dev"]
    assert len(rows) == round((1 - dev["accuracy"]) * 40)  # 10% of 400 planar examples
    assert f"{len(rows)} mistakes" in out
    matrix = run / "errors" / "confusion_matrix.png"
    assert str(matrix) in out and matrix.read_bytes()[:4] == b"\x89PNG"


def write_image_npz(path, rng):
    """A Keras-layout dataset of 8x8 uint8 images: three classes, bright in a different row band."""

    def part(m):
        y = rng.integers(0, 3, size=m)
        x = rng.integers(0, 60, size=(m, 8, 8))
        for k in range(3):
            x[y == k, 2 * k : 2 * k + 3, :] += 120
        return x.astype(np.uint8), y.astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = part(150), part(30)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_cli_on_images_writes_gallery_csv_and_counts_tags(tmp_path, capsys):
    data = write_image_npz(tmp_path / "tiny.npz", np.random.default_rng(0))
    run = tmp_path / "run"
    train_tiny(run, "--dataset", str(data), "--dev-size", "60", "--standardize")
    capsys.readouterr()
    assert main(["errors", str(run), "--gallery", "9", "--top", "3"]) == 0
    out = capsys.readouterr().out
    gallery, csv_path = run / "errors" / "gallery.png", run / "errors" / "dev_mistakes.csv"
    assert str(gallery) in out and str(csv_path) in out
    assert gallery.read_bytes()[:8] == PNG_SIGNATURE and gallery.stat().st_size < 200_000
    header, rows = read_rows(csv_path)
    assert tuple(header) == CSV_COLUMNS and len(rows) >= 2  # 2 epochs of 4 units: mistakes
    assert f"60 examples, {len(rows)} mistakes" in out

    write_tagged(csv_path, ["faint", "Faint; noisy"] + [""] * (len(rows) - 2))
    assert main(["errors", str(run), "--count-tags", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(rows)} mistakes, 2 tagged" in out and "faint" in out and "noisy" in out

    assert main(["errors", str(run)]) == 0  # a tagged CSV is a person's work: kept
    assert "kept" in capsys.readouterr().err
    assert count_tags(csv_path)["tagged"] == 2


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["errors", str(tmp_path / "nope")]) == 2
    assert "RUN_DIR must be a run folder" in capsys.readouterr().err
    assert main(["errors", str(tmp_path), "--count-tags", str(tmp_path / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
