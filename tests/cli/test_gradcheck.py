"""`nnlab gradcheck`: a new net from the flags, a saved CNN run on its image inputs, a
confident trained net that passes, and a doubled gradient that fails naming its tensor."""

import numpy as np
import pytest

from nnlab import Dense
from nnlab.cli import gradcheck as gradcheck_command
from nnlab.cli.main import main
from nnlab.training.gradcheck import GradCheckResult


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


# ------------------------------------------------ a confident trained net (issue 9, item 6)
def mnist_like(path, m=1200, seed=0):
    """An .npz of 28x28 uint8 digits-to-be: 10 random class templates plus noise, which the
    default net learns to near-certainty in a few epochs (as it does MNIST)."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, (10, 28, 28)) * (rng.random((10, 28, 28)) < 0.3)

    def draw(n):
        y = rng.integers(0, 10, n)
        x = templates[y] + rng.normal(0, 40, (n, 28, 28))
        return np.clip(x, 0, 255).astype(np.uint8), y

    (x_train, y_train), (x_test, y_test) = draw(m), draw(200)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def confident_run(tmp_path_factory):
    """A run folder of the default MLP (256, 128, relu, adam) trained to a training loss
    far below 1e-3 on the MNIST-like set."""
    root = tmp_path_factory.mktemp("confident")
    dataset = mnist_like(root / "digits.npz")
    run = root / "run"
    assert (
        main(["train", "--dataset", str(dataset), "--epochs", "8", "--quiet", "--out", str(run)])
        == 0
    )
    return run


def test_gradcheck_passes_a_confident_correctly_trained_net(confident_run, capsys):
    """With the course's eps = 1e-7 and a 1e-7 threshold this net 'failed' (round-off)."""
    capsys.readouterr()
    assert main(["gradcheck", str(confident_run), "--max-per-param", "20"]) == 0
    out = capsys.readouterr().out
    assert "OK: every tensor's relative difference is below 1e-05" in out, out


def test_gradcheck_fails_a_gradient_doubled_in_one_layer_and_names_it(
    confident_run, monkeypatch, capsys
):
    original = Dense.backward_preactivation

    def doubled_dw_of_dense_2(self, dz, need_input_grad=True):
        out = original(self, dz, need_input_grad)
        if self.name == "dense_2":
            self.grads["W"] *= 2.0
        return out

    # gradcheck runs on a float64 copy of the model, so patch the class, not an instance
    monkeypatch.setattr(Dense, "backward_preactivation", doubled_dw_of_dense_2)
    capsys.readouterr()
    assert main(["gradcheck", str(confident_run), "--max-per-param", "20"]) == 1
    verdict = capsys.readouterr().out.strip().splitlines()[-1]
    assert verdict.startswith(
        "FAILED: backprop disagrees with finite differences in dense_2/W 3.33"
    )
    assert "dense_1" not in verdict and "dense_3" not in verdict and "dense_2/b" not in verdict


def test_gradcheck_epsilon_flag_reaches_the_check_and_is_validated(monkeypatch, capsys):
    seen = {}

    def spy(model, x, y, epsilon, max_per_param):
        seen["epsilon"] = epsilon
        return GradCheckResult(0.0, {"dense_1/W": 0.0}, 1)

    monkeypatch.setattr(gradcheck_command, "gradcheck", spy)
    assert main(["gradcheck", "--epsilon", "1e-7"]) == 0
    assert seen["epsilon"] == 1e-7
    with pytest.raises(SystemExit):
        main(["gradcheck", "--epsilon", "-1"])
    assert "argument --epsilon: expected a number > 0, got '-1'" in capsys.readouterr().err
