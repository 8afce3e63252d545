"""Learning diagnostics while training: gradient norms, activation statistics, dead ReLUs.

At the end of every epoch :class:`TrainingMonitor` runs one forward and one backward
pass, in training mode, on a fixed sample batch X_s of m_s examples (a few hundred) and
records, for every parameter tensor theta and every layer output A[l]:

    grad_norm   ||dtheta||_2 = sqrt(sum_i dtheta_i^2)          (dtheta of the sample's J)
    grad_ratio  ||dtheta||_2 / ||theta||_2                      (None when theta = 0)
    act_mean    mean(A[l])      act_std   std(A[l])             (over all m_s * n values)
    dead_relu   (1/n) sum_j 1[A[l]_ij = 0 for every i]          (ReLU layers only)

It warns when a layer's gradient norm ``sqrt(sum_theta ||dtheta||^2)`` is below
``vanishing`` or above ``exploding`` (or not finite), and when more than half of a ReLU
layer's units are dead.  When the loss becomes NaN mid-epoch, the weights it diverged
with are measured too (that record may hold NaN or inf).

The pass changes nothing the training sees: it never steps the optimizer, gives the
layers a private random generator (dropout masks do not consume the model's draws) and
puts the batch-norm running averages back.  It overwrites the gradient buffers, which
the next training step fills again.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from pathlib import Path

import numpy as np

from .. import backend
from ..practice import plots
from ..training.callbacks import Callback
from .folder import RunFolder


class DiagnosticWarning(UserWarning):
    """A training diagnostic: vanishing or exploding gradients, dead ReLU units."""


class TrainingMonitor(Callback):
    """Record gradient and activation statistics on a fixed sample after every epoch.

    Args:
        x_sample, y_sample: the sample batch (a few hundred examples; raw inputs and labels
            as given to ``fit``).
        vanishing: warn when a layer's gradient norm falls below this.
        exploding: warn when a layer's gradient norm exceeds this.
        log: called with a problem's message the first time it occurs for a layer
            (default: ``warnings.warn`` with a :class:`DiagnosticWarning`); every
            occurrence, every epoch, is kept in ``monitor.warnings``.

    Attributes:
        history: per-epoch lists: "epoch" (1-based), "grad_norm/<layer>/<param>",
            "grad_ratio/<layer>/<param>", "act_mean/<layer>", "act_std/<layer>",
            "dead_relu/<layer>" (ReLU layers).
        warnings: the message of every problem found, in order.
    """

    def __init__(self, x_sample, y_sample, vanishing=1e-7, exploding=1e3, log=None):
        self.x_sample, self.y_sample = x_sample, y_sample
        self.vanishing, self.exploding = float(vanishing), float(exploding)
        self.log = log or _warn
        self.history: dict[str, list] = {}
        self.warnings: list[str] = []
        self._warned: set = set()
        self._prepared = None
        self._epoch = 0

    @classmethod
    def from_data(cls, x, y, size=256, seed=0, **kwargs):
        """A monitor on ``size`` examples of (x, y) drawn without replacement (seeded)."""
        m = len(x)
        idx = np.sort(np.random.default_rng(seed).permutation(m)[: min(size, m)])
        return cls(np.asarray(x)[idx], np.asarray(y)[idx], **kwargs)

    # ------------------------------------------------------------------ hooks
    def set_model(self, model) -> None:
        super().set_model(model)
        self._prepared = None

    def on_epoch_begin(self, epoch, info):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs):
        self.measure(epoch)

    def on_nan(self, message):
        """Training diverged mid-epoch: measure the weights it diverged with."""
        self.measure(self._epoch)

    def get_state(self) -> tuple[dict, dict]:
        """The per-epoch history, the warnings and which (layer, kind) were reported: a
        resumed run continues them (saved in the checkpoint, see ModelCheckpoint)."""
        warned = sorted([layer, kind] for layer, kind in self._warned)
        return {"history": self.history, "warnings": self.warnings, "warned": warned}, {}

    def set_state(self, values: dict, arrays: dict) -> None:
        """Continue the history and warnings of :meth:`get_state` of an earlier run."""
        self.history = {key: list(series) for key, series in values["history"].items()}
        self.warnings = list(values["warnings"])
        self._warned = {(layer, kind) for layer, kind in values["warned"]}

    # -------------------------------------------------------------- measuring
    def measure(self, epoch: int) -> dict:
        """Run the diagnostic pass, append its record to ``history``, check it; return it."""
        x, y = self._sample()
        record = {"epoch": epoch + 1}
        with np.errstate(all="ignore"):
            with _isolated(self.model):  # the two passes draw the same dropout masks
                record.update(self._activation_stats(x))
            with _isolated(self.model):
                self.model.compute_gradients(x, y, training=True)
                record.update(self._gradient_stats())
        for key, value in record.items():
            self.history.setdefault(key, []).append(value)
        self._check(record, epoch)
        return record

    def _sample(self):
        if self._prepared is None:
            x = self.model.prepare_inputs(self.x_sample, "TrainingMonitor")
            y = self.model.prepare_targets(self.y_sample, x.shape[0], "TrainingMonitor")
            self._prepared = (x, y)
        return self._prepared

    def _activation_stats(self, x) -> dict:
        """act_mean, act_std (and dead_relu) of every layer's output A[l]."""
        stats = {}
        for layer, a in zip(self.model.layers, self.model.layer_outputs(x, True), strict=True):
            stats[f"act_mean/{layer.name}"] = float(a.mean(dtype=np.float64))
            stats[f"act_std/{layer.name}"] = float(a.std(dtype=np.float64))
            if _is_relu(layer):
                stats[f"dead_relu/{layer.name}"] = dead_fraction(a)
        return stats

    def _gradient_stats(self) -> dict:
        """grad_norm and grad_ratio of every parameter tensor (after compute_gradients)."""
        stats = {}
        for name, param, grad in self.model.named_parameters():
            g, p = _norm(grad), _norm(param)
            stats[f"grad_norm/{name}"] = g
            stats[f"grad_ratio/{name}"] = g / p if p > 0 else None
        return stats

    # --------------------------------------------------------------- checking
    def _check(self, record: dict, epoch: int) -> None:
        for layer in self.model.layers:
            norms = [record[f"grad_norm/{layer.name}/{key}"] for key in layer.params]
            if norms:
                self._check_gradient(layer.name, math.sqrt(sum(n * n for n in norms)), epoch)
            dead = record.get(f"dead_relu/{layer.name}")
            if dead is not None and dead > 0.5:
                self._report(
                    layer.name,
                    "dead_relu",
                    f"dead ReLUs in layer {layer.name} at epoch {epoch + 1}: {dead:.0%} of "
                    "its units output 0 for every sample example (lower the learning rate, "
                    "use He initialization or LeakyReLU)",
                )

    def _check_gradient(self, name: str, norm: float, epoch: int) -> None:
        if norm < self.vanishing:
            self._report(
                name,
                "vanishing",
                f"vanishing gradients in layer {name} at epoch {epoch + 1}: gradient norm "
                f"{norm:.3g} < {self.vanishing:g} (try ReLU, He/Xavier initialization or "
                "batch normalization)",
            )
        elif not norm <= self.exploding:  # also NaN
            size = f"> {self.exploding:g}" if norm > self.exploding else "(not finite)"
            self._report(
                name,
                "exploding",
                f"exploding gradients in layer {name} at epoch {epoch + 1}: gradient norm "
                f"{norm:.3g} {size} (try a smaller initialization or learning rate, or batch "
                "normalization)",
            )

    def _report(self, layer: str, kind: str, message: str) -> None:
        """Keep every message; pass the first of each (layer, kind) to ``log``."""
        message = f"TrainingMonitor: {message}"
        self.warnings.append(message)
        if (layer, kind) not in self._warned:
            self._warned.add((layer, kind))
            self.log(message)

    # ----------------------------------------------------------------- saving
    def save(self, run_dir) -> list[Path]:
        """Write the run folder's layer_stats.json, gradient_norms.png and activations.png
        (:class:`~nnlab.runs.folder.RunFolder`); return their paths.

        A resumed run's monitor holds every epoch (its state is in the checkpoint).
        Non-finite values are written as null.  With no epoch recorded only the JSON file
        is written.
        """
        folder = RunFolder(run_dir).make()
        history = self.history
        stats = {
            "vanishing": self.vanishing,
            "exploding": self.exploding,
            "sample_size": int(len(self.x_sample)),
            "history": {k: [_finite_or_none(v) for v in vs] for k, vs in history.items()},
            "warnings": self.warnings,
        }
        folder.layer_stats.write_text(json.dumps(stats, indent=1, allow_nan=False))
        if not history.get("epoch"):
            return [folder.layer_stats]
        return [
            folder.layer_stats,
            plots.gradient_norms(history, folder.gradient_norms),
            plots.activation_stats(history, folder.activations),
        ]


def dead_fraction(a) -> float:
    """Fraction of units j (all axes but the batch axis) with A_ij = 0 for every example i."""
    flat = a.reshape(a.shape[0], -1)
    return float((flat == 0).all(axis=0).mean())


def _is_relu(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "name", None) == "relu"


def _norm(a) -> float:
    """||a||_2 over all entries, accumulated in float64 (no float32 overflow)."""
    flat = a.reshape(-1).astype(np.float64)
    return math.sqrt(float(flat @ flat))


def _warn(message: str) -> None:
    warnings.warn(message, DiagnosticWarning, stacklevel=2)


@contextlib.contextmanager
def _isolated(model):
    """Give layers a private generator and restore every layer's ``state`` arrays after."""
    rngs = [layer.rng for layer in model.layers]
    saved = [{k: v.copy() for k, v in layer.state.items()} for layer in model.layers]
    private = backend.make_rng(0)
    for layer in model.layers:
        layer.rng = private
    try:
        yield
    finally:
        for layer, rng, state in zip(model.layers, rngs, saved, strict=True):
            layer.rng = rng
            for key, value in state.items():
                layer.state[key][...] = value


def _finite_or_none(value):
    return value if value is None or math.isfinite(value) else None
