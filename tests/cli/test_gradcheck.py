"""`nnlab gradcheck`: a new net from the flags, and a saved CNN run on its image inputs."""

import numpy as np

from nnlab.cli.main import main


def test_gradcheck_command(capsys):
    assert main(["gradcheck", "--layers", "4,3", "--batch-norm", "--l2", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "dense_1/W" in out


def test_gradcheck_of_a_saved_cnn_run_uses_the_runs_image_inputs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    dataset = tmp_path / "tiny_images.npz"
    np.savez(
        dataset,
        x_train=rng.integers(0, 255, (60, 16, 16), dtype=np.uint8),
        y_train=rng.integers(0, 3, 60),
        x_test=rng.integers(0, 255, (20, 16, 16), dtype=np.uint8),
        y_test=rng.integers(0, 3, 20),
    )
    run = tmp_path / "run"
    train = ["train", "--model", "cnn", "--dataset", str(dataset), "--epochs", "1"]
    assert main([*train, "--quiet", "--out", str(run)]) == 0
    assert main(["gradcheck", str(run), "--examples", "4", "--max-per-param", "3"]) == 0
    assert "OK" in capsys.readouterr().out
