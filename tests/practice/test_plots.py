"""The plots leave matplotlib's global state alone: a notebook keeps its backend."""

from __future__ import annotations

import subprocess
import sys

# Run in a fresh interpreter: the test process has long chosen a backend and imported pyplot.
SCRIPT = """
import sys
import matplotlib
matplotlib.use("svg")  # the backend a notebook (or a user) chose
from nnlab.practice import error_analysis, plots
out = sys.argv[1]
plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, f"{out}/curves.png")
plots.gradient_norms({"epoch": [1, 2], "grad_norm/dense_1/W": [0.1, None]}, f"{out}/grads.png")
plots.activation_stats(
    {"epoch": [1, 2], "act_std/dense_1": [1.0, 0.9], "dead_relu/dense_1": [0.0, 0.1]},
    f"{out}/acts.png",
)
plots.confusion_matrix([[3, 1], [0, 4]], f"{out}/confusion.png")
plots.step_curves({"J": [5.0, 2.0], "beta J_style": [4.0, 1.5], "tv": [0, 0]}, f"{out}/steps.png", wide="J")
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


def test_drawing_keeps_the_backend_and_never_imports_pyplot(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "svg False"
    for name in ("curves", "grads", "acts", "confusion", "steps"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
