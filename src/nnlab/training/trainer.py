"""Keras' compile / fit / evaluate / predict on a network, and the custom-step path.

One training step on a mini-batch (X, Y) of m examples (``train_step``):

    A = forward(X)                                         every call's cache kept
    J = sum_k w_k loss_k(Y_k, A_k) + sum_l (lambda_l / 2M) ||W[l]||^2
    dA_k = w_k dloss_k/dA_k   (dZ_k = w_k (A_k - Y_k) / m for a fused sigmoid/softmax output)
    backward(dA)                                           dW, db filled
    dW[l] += (lambda_l / M) W[l];  optimizer.step(theta, dtheta)

M is the number of training examples (the course's m of full-batch training), so a
mini-batch step follows the gradient of the same regularized cost J whatever the batch
size; for full-batch training M = m.

The custom-step path.  ``fit`` runs exactly these four calls; a loss of your own (a triplet
loss, a style-transfer cost on intermediate activations made model outputs) runs them too::

    outputs = model.forward(x, training=True)        # one array, or a list per output
    J, d_outputs = my_loss(outputs)                  # dJ/dA, one array per output
    d_x = model.backward(d_outputs, input_grads=True) # fills every dW; returns dJ/dX
    model.regularize(); model.apply_gradients()      # L2 terms, then one optimizer step

The course writes X as (n_x, m); nnlab, like Keras, puts the batch first: X is (m, n_x).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from tqdm.auto import tqdm

from .. import backend, registry
from ..exceptions import ConfigError, InputValueError, ShapeError
from ..layers import Dense
from ..layers.base import shape_matches
from .callbacks import CallbackList, History, ProgressBar

#: ``evaluate(verbose=1)`` shows a progress bar from this many examples on.
EVALUATE_PROGRESS_MIN = 5000


class Trainer:
    """Training on top of a ``Network``: mixed into ``nnlab.Model`` and ``nnlab.Sequential``."""

    compiled = False
    optimizer = None
    # until compile() sets them per model (tuples: never shared and mutated)
    losses: list | tuple = ()
    loss_weights: list | tuple = ()
    output_metrics: list | tuple = ()
    metric_names: list | tuple = ()
    stop_training = False
    #: the number of examples and the per-output losses of the last step (for logs)
    last_batch_size = None
    last_losses: list | tuple = ()

    # ----------------------------------------------------------------- compile
    def compile(
        self,
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=None,
        learning_rate=None,
        loss_weights=None,
    ) -> None:
        """Choose the optimizer, the loss of every output, their weights and the metrics.

        Args:
            optimizer: a name ("adam", "sgd", ...) or an Optimizer.
            loss: one loss (for every output), or a list / dict by output name with one
                per output; None for an output means no loss (it is only watched).
            metrics: metric names (["accuracy"]) for every output with a loss, or a dict
                output name -> list.
            learning_rate: overrides the optimizer's.
            loss_weights: the w_k of J = sum_k w_k loss_k: a list or dict per output.
        """
        overrides = {} if learning_rate is None else {"learning_rate": learning_rate}
        self.optimizer = registry.get("optimizer", optimizer, **overrides)
        self.losses = [
            None if spec is None else registry.get("loss", spec)
            for spec in self._per_output(loss, "loss")
        ]
        weights = [1.0] * len(self.losses) if loss_weights is None else loss_weights
        self.loss_weights = [float(w) for w in self._per_output(weights, "loss_weights")]
        self.output_metrics = self._metrics_per_output(metrics)
        self.metric_names = sorted({name for fns in self.output_metrics for name in fns})
        self.compiled = True
        if not self.built and self.input_shapes is not None:
            self.build()
        elif self.built:
            self.sync_trainable()
            self.optimizer.build(self.flat.values)

    def _per_output(self, value, what):
        """``value`` as one entry per output: a dict by output name or a list of one entry
        each; anything else (a name, a config dict, an object) is for every output."""
        n = len(self.output_positions)
        if isinstance(value, dict) and value and set(value) <= set(self.output_names):
            return [value.get(name) for name in self.output_names]
        if isinstance(value, list | tuple) and what != "metrics":
            if len(value) != n:
                raise ConfigError(
                    f"{self.name}.compile: {what} has {len(value)} entries for {n} outputs "
                    f"{self.output_names}"
                )
            return list(value)
        return [value] * n

    def _metrics_per_output(self, metrics) -> list[dict]:
        """Per output: metric name -> fn(y, a) -> (correct or sum, count)."""
        per_output = self._per_output(metrics or [], "metrics")
        result = []
        for loss, names in zip(self.losses, per_output, strict=True):
            names = [] if loss is None or names is None else list(names)
            result.append({name: registry.get("metric", name) for name in names})
        return result

    def _on_built(self) -> None:
        if self.optimizer is not None:
            self.optimizer.build(self.flat.values)

    def _on_repacked(self, old) -> None:
        """The trainable set changed (``sync_trainable``): the optimizer's slots follow the
        parameters into the new buffers; a parameter frozen now drops its state, one
        unfrozen now starts from zeros (its moments never saw a gradient)."""
        optimizer = self.optimizer
        if optimizer is None or not optimizer.slots:
            if optimizer is not None:
                optimizer._tmp = None
            return
        xp, new = backend.xp, self.flat
        before = {(id(e.layer), e.key): e for e in old.entries}
        slots = {key: xp.zeros_like(new.values) for key in optimizer.slots}
        for entry in new.entries:
            was = before.get((id(entry.layer), entry.key))
            if was is None:
                continue
            for key, slot in slots.items():
                new.view(slot, entry)[...] = old.view(optimizer.slots[key], was)
        optimizer.slots = slots
        optimizer._tmp = None

    @property
    def loss(self):
        """The loss of a one-output model (``losses`` has one per output)."""
        return self.losses[0] if len(self.losses) == 1 else self.losses

    def _fused_flags(self) -> list[bool]:
        """Per output: do the activation and the loss fuse (dZ = A - Y)?"""
        flags = []
        for k, loss in enumerate(self.losses):
            activation = self.output_activation(k)
            flags.append(
                loss is not None
                and loss.fuses_with is not None
                and activation is not None
                and activation.name == loss.fuses_with
                and not getattr(loss, "from_logits", False)
            )
        return flags

    @property
    def fused(self):
        """True when the output activation and the loss are fused (a list per output)."""
        flags = self._fused_flags()
        return flags[0] if len(flags) == 1 else flags

    # ------------------------------------------------------------- the step
    def forward(self, x, training: bool = False):
        self.last_batch_size = int(self.input_list(x)[0].shape[0])
        return super().forward(x, training=training)

    def loss_and_output_grads(self, ys: list, outputs: list):
        """(J, per-output losses, per-output dA or dZ, per-output fused flags) for prepared
        targets and outputs (lists, one entry per output)."""
        fused = self._fused_flags()
        total, values, grads = 0.0, [], []
        for k, (loss, weight, y, a) in enumerate(
            zip(self.losses, self.loss_weights, ys, outputs, strict=True)
        ):
            if loss is None:
                values.append(None)
                grads.append(None)
                continue
            value, grad = self._output_loss(k, fused[k], y, a)
            if weight != 1.0:
                grad = grad * weight
            total += weight * value
            values.append(value)
            grads.append(grad)
        return total, values, grads, fused

    def _output_loss(self, k: int, fused: bool, y, a):
        """(J, dA or dZ) of output k.  With a sequence mask (Embedding(mask_zero=True) ...
        recurrent layers with return_sequences), only the real steps count: the loss sees
        them as a batch of positions, and the padded steps get a zero gradient."""
        loss = self.losses[k]
        z = self.preactivation(k) if fused else None
        mask = self._output_mask(k, a, y)
        if mask is None:
            if fused:
                return loss.fused_value_and_grad(y, z, a)
            return loss.value_and_grad(y, a)
        xp = backend.xp
        grad = xp.zeros_like(a)
        if not bool(mask.any()):
            return 0.0, grad
        y_real, a_real = y[mask], a[mask]
        if fused:
            z_real = None if z is None else z[mask]
            value, grad[mask] = loss.fused_value_and_grad(y_real, z_real, a_real)
        else:
            value, grad[mask] = loss.value_and_grad(y_real, a_real)
        return value, grad

    def _output_mask(self, k: int, a, y=None):
        """The positions of output k that count, or None for all: the (m, T) mask of the
        last forward when it masks a's steps, and the loss' kept positions of y (labels
        equal to an ``ignore_class`` left out)."""
        masks = self.output_masks
        mask = masks[k] if k < len(masks) else None
        if mask is not None and (a.ndim != mask.ndim + 1 or a.shape[: mask.ndim] != mask.shape):
            mask = None
        kept = None if y is None or k >= len(self.losses) else self.losses[k].kept_positions(y)
        if kept is None:
            return mask
        return kept if mask is None else mask & kept

    def unpadded(self, k: int, y, a):
        """(y, a) of output k at its real steps only (as (N, ...) rows) under a sequence
        mask, else as they are: what the metrics score."""
        mask = self._output_mask(k, a, y)
        return (y, a) if mask is None else (y[mask], a[mask])

    def regularize(self, n_examples: int | None = None) -> float:
        """Add every L2 term's gradient (lambda / M) W to dW; return the penalty
        (lambda / 2M) ||W||^2.  M is ``n_examples`` (default: the last batch's size)."""
        m = n_examples or self.last_batch_size
        penalty = 0.0
        for param, dparam, reg in self.regularized():
            reg.add_gradient(param, dparam, m)
            penalty += reg.cost(param, m)
        return penalty

    def apply_gradients(self) -> None:
        """One optimizer step on every trainable parameter from its gradient."""
        self._require_compiled("apply_gradients")
        self.sync_trainable()
        flat = self.flat
        flat.gather()  # parameters shared with another model's buffers (FlatParameters)
        self.optimizer.step(flat.values, flat.grads, flat.spans)
        flat.scatter()

    def compute_gradients(self, x, y, training: bool = True, n_examples: int | None = None):
        """Forward and backward on one prepared batch: fill every grad; return
        (J, penalty, outputs).  ``n_examples`` is M of the L2 term (default the batch)."""
        return self._gradients(self.input_list(x), y, training, n_examples)

    def _gradients(self, xs: list, y, training=True, n_examples=None):
        outputs = self.forward(xs, training=training)
        outs = outputs if len(self.output_positions) > 1 else [outputs]
        ys = y if len(self.output_positions) > 1 else [y]
        value, self.last_losses, grads, fused = self.loss_and_output_grads(ys, outs)
        self.backward(grads, from_preactivation=fused)
        penalty = self.regularize(n_examples)
        return value, penalty, outputs

    def train_step(self, x, y, n_examples: int | None = None):
        """One optimizer step on a prepared batch; returns (data loss, penalty, outputs)."""
        value, penalty, outputs = self.compute_gradients(x, y, n_examples=n_examples)
        self.apply_gradients()
        return value, penalty, outputs

    # ------------------------------------------------------------------- inputs
    def prepare_inputs(self, x, who: str = "fit"):
        """Validate x and move it to the array module: the model's float type for float
        inputs, the declared integer type for token ids.  One array for one input, else a
        list (from an array, a list or a dict by input name)."""
        xs = self.input_list(x)
        if len(xs) != self.n_inputs:
            raise ShapeError(
                f"{self.name}.{who}: the model has {self.n_inputs} inputs {self.input_names}, "
                f"got {len(xs)} arrays"
            )
        arrays = [self._prepare_input(a, k, who) for k, a in enumerate(xs)]
        m = arrays[0].shape[0]
        for k, a in enumerate(arrays):
            if a.shape[0] != m:
                raise ShapeError(
                    f"{self.name}.{who}: input {self.input_names[k]!r} has {a.shape[0]} "
                    f"examples, input {self.input_names[0]!r} has {m}"
                )
        if not self.built:
            self.build([a.shape[1:] for a in arrays])
        for k, a in enumerate(arrays):
            self._check_input_shape(a, k, who)
        arrays = [
            backend.xp.asarray(a, dtype=self.input_dtypes[k] or self.dtype)
            for k, a in enumerate(arrays)
        ]
        return arrays[0] if len(arrays) == 1 else arrays

    def _prepare_input(self, x, k: int, who: str):
        name = "x" if self.n_inputs == 1 else f"input {self.input_names[k]!r}"
        try:
            arr = np.asarray(backend.to_numpy(x))
        except (TypeError, ValueError) as err:
            raise InputValueError(
                f"{self.name}.{who}: {name} must be a numeric array ({err})"
            ) from None
        if arr.dtype.kind not in "biuf":
            raise InputValueError(
                f"{self.name}.{who}: {name} must be numeric, got dtype {arr.dtype}"
            )
        if arr.ndim < 2 and not (self.input_dtypes[k] is not None and arr.ndim == 1):
            shape = self.input_shapes[k] if self.input_shapes else ("n_x",)
            raise ShapeError(
                f"{self.name}.{who}: expected {name} of shape (m, {', '.join(map(str, shape))}) "
                f"(batch first), got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise InputValueError(f"{self.name}.{who}: {name} is empty (0 examples)")
        # a NaN or inf makes the sum non-finite: one pass, no (m, ...) boolean array; the
        # count confirms it (huge finite values can overflow the sum too)
        if arr.dtype.kind == "f" and not np.isfinite(arr.sum(dtype=np.float64)):
            bad = int(np.size(arr) - np.isfinite(arr).sum())
            if bad:
                raise InputValueError(f"{self.name}.{who}: {name} contains {bad} NaN or inf values")
        integer = self.input_dtypes[k]
        if integer is not None and integer.kind in "iu" and arr.dtype.kind not in "biu":
            raise InputValueError(
                f"{self.name}.{who}: {name} holds token ids ({integer}), got dtype {arr.dtype}"
            )
        return arr

    def _check_input_shape(self, arr, k: int, who: str) -> None:
        expected = self.input_shapes[k]
        if shape_matches(arr.shape[1:], expected):
            return
        for consumer in self.calls[k].consumers:  # names the layer that would receive it
            self.calls[consumer].layer.check_input(arr)
        name = "x" if self.n_inputs == 1 else f"input {self.input_names[k]!r}"
        raise ShapeError(
            f"{self.name}.{who}: expected {name} of shape (m, {', '.join(map(str, expected))}), "
            f"got {arr.shape}"
        )

    def prepare_targets(self, y, m: int, who: str = "fit"):
        """Validate the targets of every output with a loss (one array for one output, else
        a list or a dict by output name) against the model's outputs."""
        n = len(self.output_positions)
        ys = self._target_list(y, who)
        prepared = []
        for k, (loss, shape) in enumerate(zip(self.losses, self.output_shapes, strict=True)):
            if loss is None:
                prepared.append(None)
                continue
            prepared.append(self._prepare_target(ys[k], loss, shape, m, k, who))
        return prepared[0] if n == 1 else prepared

    def _target_list(self, y, who):
        n = len(self.output_positions)
        if y is None:
            raise InputValueError(f"{self.name}.{who}: y is required")
        if n == 1:
            return [y]
        if isinstance(y, dict):
            return [y.get(name) for name in self.output_names]
        if not isinstance(y, list | tuple) or len(y) != n:
            raise ShapeError(
                f"{self.name}.{who}: the model has {n} outputs {self.output_names}; give y as "
                f"a list or dict with one target array each"
            )
        return list(y)

    def _prepare_target(self, y, loss, shape, m, k, who):
        name = "y" if len(self.output_positions) == 1 else f"y[{self.output_names[k]!r}]"
        if y is None:
            raise InputValueError(f"{self.name}.{who}: {name} is required (its output has a loss)")
        y_host = np.asarray(backend.to_numpy(y))
        if y_host.ndim == 0 or y_host.shape[0] != m:
            raise ShapeError(
                f"{self.name}.{who}: x has {m} examples but {name} has "
                f"{y_host.shape[0] if y_host.ndim else 'no batch axis'} (shape {y_host.shape})"
            )
        if y_host.dtype.kind == "f" and y_host.dtype != self.dtype:
            y_host = y_host.astype(self.dtype)  # float targets in the model's precision
        try:
            return loss.prepare(backend.xp.asarray(y_host), shape)
        except ShapeError as err:
            self._explain_extra_axes(k, y_host.shape, err)
            raise

    def _explain_extra_axes(self, k: int, y_shape, err: ShapeError) -> None:
        """Targets with fewer axes than output k: if a Dense projected each position of an
        image or sequence (it acts on the last axis), say so and suggest Flatten."""
        if len(y_shape) >= len(self.output_shapes[k]) + 1:
            return
        for call in self.calls:
            layer = call.layer
            if isinstance(layer, Dense) and len(layer.input_shape) > 1:
                got = "(m, " + ", ".join(map(str, layer.input_shape)) + ")"
                raise ShapeError(
                    f"{layer.describe()}: got input of shape {got} and acts on its last axis, "
                    f"so output {self.output_names[k]!r} is (m, "
                    f"{', '.join(map(str, self.output_shapes[k]))}) while the targets are "
                    f"{tuple(y_shape)}; add a Flatten layer before it to treat each example "
                    f"as one vector ({err})"
                ) from None

    def _require_compiled(self, who):
        if not self.compiled:
            raise ConfigError(f"{self.name}.{who}: call compile(optimizer, loss) first")

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        callbacks=None,
        verbose=1,
        initial_epoch=0,
    ) -> History:
        """Train with mini-batch gradient descent; return the History.

        Args:
            x, y: training examples (m, ...) and labels; a list or dict (by input / output
                name) for several inputs or outputs.
            epochs: train until this epoch number (counting ``initial_epoch`` ones done).
            batch_size: examples per step; the last batch of an epoch is smaller.
            validation_data: (x_dev, y_dev), evaluated after every epoch.
            validation_split: else hold out this last fraction of x, y as the dev set.
            shuffle: True draws a new permutation each epoch; False keeps the order; a
                callable ``shuffle(epoch, m) -> permutation`` decides it (course mode).
            callbacks: Callback objects (EarlyStopping, ModelCheckpoint, ...).
            verbose: 1 shows a progress bar, 0 is silent.
            initial_epoch: epochs already done (resuming from a checkpoint).
        """
        self._require_compiled("fit")
        xs, ys = self._prepared(x, y, "fit")
        if validation_data is None and validation_split:
            xs, ys, validation_data = _split_tail(xs, ys, validation_split, self.name)
        elif validation_data is not None:
            validation_data = self._prepared(*validation_data, "fit(validation_data)")
        m = xs[0].shape[0]
        batch_size = _check_batch_size(batch_size, self.name, m)

        history = History()
        cbs = CallbackList([ProgressBar()] if verbose else [], callbacks, model=self)
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.optimizer.set_epoch(epoch)
            cbs.on_epoch_begin(epoch, {"steps": -(-m // batch_size), "epochs": epochs})
            logs = self._run_epoch(xs, ys, epoch, batch_size, shuffle, cbs, history)
            if logs is None:
                break
            if validation_data is not None:
                x_dev, y_dev = validation_data
                dev = self.evaluate(
                    self._as_call_inputs(x_dev), self._as_call_targets(y_dev), prepared=True
                )
                logs.update({f"val_{k}": v for k, v in dev.items()})
            logs["lr"] = self.optimizer.lr
            history.append(epoch, logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(history)
        return history

    def _prepared(self, x, y, who):
        """(inputs, targets) as lists, validated and on the array module."""
        xs = self.input_list(self.prepare_inputs(x, who))
        ys = self.prepare_targets(y, xs[0].shape[0], who)
        return xs, ys if len(self.output_positions) > 1 else [ys]

    def _as_call_inputs(self, xs: list):
        """Inputs as the step takes them: one array for one input, else the list."""
        return xs if len(xs) > 1 else xs[0]

    def _as_call_targets(self, ys: list):
        return ys if len(self.output_positions) > 1 else ys[0]

    @property
    def course_mode(self) -> bool:
        """Every loss computes its cost as the course does (``course_cost=True``): then a
        non-finite cost does not stop training, as the course's ``np.nansum`` cost does not
        (its gradient A - Y stays finite)."""
        active = [loss for loss in self.losses if loss is not None]
        return bool(active) and all(getattr(loss, "course_cost", False) for loss in active)

    def _run_epoch(self, xs, ys, epoch, batch_size, shuffle, cbs, history):
        """Train one epoch; return its logs, or None if the loss became NaN/inf."""
        m = xs[0].shape[0]
        order = self._epoch_order(epoch, m, shuffle)
        totals = _Totals(self)
        for step, (xb, yb) in enumerate(_batches(xs, ys, order, batch_size)):
            with np.errstate(over="ignore", invalid="ignore"):  # a NaN loss is reported below
                value, penalty, outputs = self.train_step(
                    self._as_call_inputs(xb), self._as_call_targets(yb), n_examples=m
                )
            if not math.isfinite(value + penalty) and not self._keep_going(
                value + penalty, epoch, step, cbs, history
            ):
                return None
            totals.add(xb[0].shape[0], value, penalty, self.last_losses, yb, outputs)
            cbs.on_batch_end(step, {"loss": totals.loss / min(m, (step + 1) * batch_size)})
        return totals.logs(m)

    def _keep_going(self, cost, epoch, step, cbs, history) -> bool:
        """Record a non-finite cost; in course mode train on, else stop (False)."""
        where = f"at epoch {epoch + 1}, batch {step + 1}"
        if self.course_mode:
            if history.nonfinite_cost is None:
                history.nonfinite_cost = (
                    f"cost {cost} {where}; course mode trains on, as the course's nansum cost "
                    "does (the gradient A - Y stays finite)"
                )
            return True
        history.stop_reason = (
            f"loss became {cost} {where} (learning rate {self.optimizer.lr:g}); training "
            "stopped. Lower the learning rate, check the inputs' scale, or add batch "
            "normalization."
        )
        cbs.on_nan(history.stop_reason)
        return False

    def _epoch_order(self, epoch, m, shuffle):
        if callable(shuffle):
            return backend.xp.asarray(shuffle(epoch, m))
        if shuffle:
            return self.rng.permutation(m)
        return None

    # ------------------------------------------------------- evaluate/predict
    def evaluate(self, x, y, batch_size=1024, prepared=False, verbose=0) -> dict:
        """{'loss': J, metric: value, ...} over (x, y) in inference mode (no penalty); with
        several outputs also '<output>_loss' and '<output>_<metric>'.  ``verbose=1`` shows
        a progress bar on stderr when it is a terminal and there are at least
        ``EVALUATE_PROGRESS_MIN`` examples (a long evaluation after training)."""
        self._require_compiled("evaluate")
        if prepared:
            xs = self.input_list(x)
            ys = y if len(self.output_positions) > 1 else [y]
        else:
            xs, ys = self._prepared(x, y, "evaluate")
        return self._evaluate_lists(xs, ys, batch_size, verbose)

    def _evaluate_lists(self, xs, ys, batch_size=1024, verbose=0) -> dict:
        m = xs[0].shape[0]
        totals = _Totals(self)
        with _evaluation_bar(m, verbose) as bar:
            for xb, yb in _batches(xs, ys, None, batch_size):
                outputs = self.forward(xb, training=False)
                outs = outputs if len(self.output_positions) > 1 else [outputs]
                value, values, _, _ = self.loss_and_output_grads(yb, outs)
                totals.add(xb[0].shape[0], value, 0.0, values, yb, outputs)
                bar.update(xb[0].shape[0])
        logs = totals.logs(m)
        logs.pop("penalty", None)
        return logs

    def predict(self, x, batch_size=1024):
        """Outputs (m, *output_shape) in inference mode, as NumPy arrays (a list for several
        outputs)."""
        xs = self.input_list(self.prepare_inputs(x, "predict"))
        parts = [[] for _ in self.output_positions]
        for start in range(0, xs[0].shape[0], batch_size):
            outputs = self.forward([a[start : start + batch_size] for a in xs], training=False)
            outs = outputs if len(parts) > 1 else [outputs]
            for part, out in zip(parts, outs, strict=True):
                part.append(backend.to_numpy(out).copy())
        results = [np.concatenate(part, axis=0) for part in parts]
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """The network's architecture plus, once compiled, the optimizer, losses, weights
        and metrics."""
        config = super().get_config()
        if not self.compiled:
            config["compile"] = None
            return config
        one = len(self.losses) == 1
        config["compile"] = {
            "optimizer": self.optimizer.get_config(),
            "loss": (None if self.losses[0] is None else self.losses[0].get_config())
            if one
            else {
                name: None if loss is None else loss.get_config()
                for name, loss in zip(self.output_names, self.losses, strict=True)
            },
            "metrics": list(self.output_metrics[0])
            if one
            else {
                name: list(fns)
                for name, fns in zip(self.output_names, self.output_metrics, strict=True)
            },
        }
        if any(w != 1.0 for w in self.loss_weights):
            config["compile"]["loss_weights"] = self.loss_weights
        return config

    def save(self, path, include_optimizer=True, extra_metadata=None, extra_tensors=None) -> None:
        """Write architecture (JSON) and weights (safetensors) to one file, atomically."""
        from ..saving.model_file import save_model

        self.sync_trainable()  # the optimizer's slots as the saved flags lay them out
        save_model(self, path, include_optimizer, extra_metadata, extra_tensors)


class _Totals:
    """Sums over the batches of an epoch: the loss, the penalty, every output's loss and
    metric counts; ``logs(m)`` divides once at the end."""

    def __init__(self, model: Trainer):
        self.model = model
        self.loss = self.penalty = 0.0
        self.output_losses = [0.0] * len(model.losses)
        self.counts = [{name: [0.0, 0] for name in fns} for fns in model.output_metrics]

    def add(self, n, value, penalty, values, ys, outputs):
        model = self.model
        outs = outputs if len(model.output_positions) > 1 else [outputs]
        self.loss += value * n
        self.penalty += penalty * n
        for k, (v, y, a) in enumerate(zip(values, ys, outs, strict=True)):
            if v is not None:
                self.output_losses[k] += v * n
            y, a = model.unpadded(k, y, a)
            for name, count in self.counts[k].items():
                right, total = model.output_metrics[k][name](y, a)
                count[0] += right
                count[1] += total

    def logs(self, m) -> dict:
        model = self.model
        logs = {"loss": self.loss / m}
        if any(True for _ in model.regularized()):
            logs["penalty"] = self.penalty / m
        several = len(model.output_positions) > 1
        for k, name in enumerate(model.output_names):
            prefix = f"{name}_" if several else ""
            if several and model.losses[k] is not None:
                logs[f"{prefix}loss"] = self.output_losses[k] / m
            for metric, (right, count) in self.counts[k].items():
                logs[f"{prefix}{metric}"] = right / count
        return logs


def _check_batch_size(batch_size, owner, m: int) -> int:
    """The batch size, capped at the ``m`` training examples: a batch never holds more
    rows than there are, so ``batch_size=10**7`` is full-batch gradient descent and never
    allocates a buffer of ten million rows.  ConfigError for a size below 1 and for an
    empty training set."""
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ConfigError(f"{owner}.fit: batch_size must be a positive integer, got {batch_size!r}")
    if m == 0:
        raise ConfigError(f"{owner}.fit: the training set is empty (x has 0 examples)")
    return min(int(batch_size), m)


def _split_tail(xs, ys, fraction, owner):
    """Hold out the last ``fraction`` of (x, y) as a dev set (Keras' validation_split)."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"{owner}.fit: validation_split must be in (0, 1), got {fraction}")
    m = xs[0].shape[0]
    n_dev = int(round(m * fraction))
    if n_dev < 1 or n_dev >= m:
        raise InputValueError(
            f"{owner}.fit: validation_split={fraction} leaves {n_dev} dev examples of {m}"
        )
    cut = m - n_dev

    def part(arrays, rows):
        return [None if a is None else a[rows] for a in arrays]

    return (
        part(xs, slice(None, cut)),
        part(ys, slice(None, cut)),
        (
            part(xs, slice(cut, None)),
            part(ys, slice(cut, None)),
        ),
    )


def _batches(xs, ys, order, batch_size):
    """Yield (inputs, targets) lists per batch: views when not shuffled, gathered rows
    (the inputs into buffers reused from batch to batch) when shuffled."""
    xp = backend.xp
    m = xs[0].shape[0]
    if order is None:
        for start in range(0, m, batch_size):
            rows = slice(start, start + batch_size)
            yield [a[rows] for a in xs], [None if y is None else y[rows] for y in ys]
        return
    full = [xp.empty((batch_size,) + a.shape[1:], dtype=a.dtype) for a in xs]
    for start in range(0, m, batch_size):
        idx = order[start : start + batch_size]
        whole = idx.shape[0] == batch_size
        xb = [
            xp.take(a, idx, axis=0, out=buf if whole else None)
            for a, buf in zip(xs, full, strict=True)
        ]
        yield xb, [None if y is None else y[idx] for y in ys]


def _evaluation_bar(m: int, verbose: int) -> tqdm:
    """A bar over the ``m`` examples of an evaluation on stderr, shown only when
    ``verbose``, ``m >= EVALUATE_PROGRESS_MIN`` and stderr is a terminal (so logs and
    tests stay quiet); it disappears when done."""
    isatty = getattr(sys.stderr, "isatty", None)
    show = bool(verbose) and m >= EVALUATE_PROGRESS_MIN and bool(isatty and isatty())
    return tqdm(
        total=m,
        desc="evaluating",
        unit="example",
        file=sys.stderr,
        leave=False,
        disable=not show,
        dynamic_ncols=True,
    )
