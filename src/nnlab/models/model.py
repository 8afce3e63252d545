"""Model (a graph of layers) and Sequential (a chain), with Keras' compile / fit /
evaluate / predict.

One training step on a mini-batch (X, Y) of m examples, for layers 1..L:

    A[0] = X;  A[l] = layer_l.forward(A[l-1])                 forward, caches kept
    J = loss(Y, A[L]) + sum_l (lambda_l / 2M) ||W[l]||^2      cost (penalty reported apart)
    dZ[L] = (A[L] - Y) / m                                    fused sigmoid/softmax + CE
    dA[l-1] = layer_l.backward(dA[l])                         dW, db filled in place
    dW[l] += (lambda_l / M) W[l];  optimizer.step(theta, dtheta)

M is the number of training examples (the course's m of full-batch training), so a
mini-batch step follows the gradient of the same regularized cost J whatever the batch
size; for full-batch training M = m.

The course writes X as (n_x, m); nnlab, like Keras, puts the batch first: X is (m, n_x).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError, InputValueError, ShapeError
from ..layers import Input, Layer
from ..layers.base import default_name
from ..training.callbacks import CallbackList, History, ProgressBar
from .graph import as_node, topological_order
from .parameters import FlatParameters


class Model:
    """A graph of layers with one input and one output (Keras' functional API).

    Args:
        inputs: an ``Input(shape)``.
        outputs: the node returned by the last layer call (see ``nnlab.models.graph``).
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.

    Forward runs the layers in topological order; backward runs them in reverse and
    sums the gradients of a node used by several layers (dA = sum over its consumers).
    """

    def __init__(self, inputs=None, outputs=None, seed=None, dtype=None, name="model"):
        self.name = name
        self.layers: list[Layer] = []
        self._parents: list[list[int]] = []  # per layer: indices of its inputs, -1 = x
        self.dtype = np.dtype(dtype or backend.floatx())
        self.seed = seed
        self.rng = backend.make_rng(seed)
        self.input_shape = None
        self.built = False
        self.compiled = False
        self.loss = self.optimizer = None
        self.metric_names: list[str] = []
        self.flat: FlatParameters | None = None
        self.stop_training = False
        if inputs is not None or outputs is not None:
            self._set_graph(inputs, outputs)

    def _set_graph(self, inputs, outputs) -> None:
        source, sink = as_node(inputs), as_node(outputs)
        if source is None or not isinstance(source.layer, Input):
            raise ConfigError(f"{self.name}: inputs must be an Input(shape), got {inputs!r}")
        if sink is None:
            raise ConfigError(f"{self.name}: outputs must be the result of a layer call")
        order = topological_order(sink)
        stray = [n for n in order if isinstance(n.layer, Input) and n is not source]
        if stray or order[0] is not source:
            raise ConfigError(f"{self.name}: the outputs do not depend on exactly the given Input")
        index = {id(node): i - 1 for i, node in enumerate(order)}  # the Input gets -1
        self.input_shape = source.shape
        for node in order[1:]:
            self._append(node.layer, [index[id(p)] for p in node.parents])

    def _append(self, layer: Layer, parents: list[int]) -> None:
        """Add a layer fed by ``parents``, giving it a unique name if it has none."""
        if not isinstance(layer, Layer):
            raise ConfigError(f"{self.name}: expected a Layer, got {type(layer).__name__}")
        taken = {other.name for other in self.layers}
        if layer.name is None:
            base, i = default_name(layer), 1
            while f"{base}_{i}" in taken:
                i += 1
            layer.name = f"{base}_{i}"
        elif layer.name in taken:
            raise ConfigError(f"{self.name}: two layers are named {layer.name!r}")
        self.layers.append(layer)
        self._parents.append(parents)
        self.built = False

    # ------------------------------------------------------------------ building
    def build(self, input_shape=None, rng=None) -> None:
        """Create every layer's parameters for examples of shape ``input_shape``.

        ``rng`` overrides the model's generator for initialization (the course-compatible
        mode passes one that replays the course's ``np.random.seed`` order).
        """
        shape = tuple(input_shape or self.input_shape or ())
        if not shape:
            raise ShapeError(
                f"{self.name}: the input shape is unknown; pass input_shape= or start with Input"
            )
        if not self.layers:
            raise ConfigError(f"{self.name}: the model has no layers")
        self.input_shape = shape
        init_rng = rng or self.rng
        for layer, parents in zip(self.layers, self._parents, strict=True):
            shapes = [shape if p < 0 else self.layers[p].output_shape for p in parents]
            layer.build(shapes if layer.multi_input else shapes[0], init_rng, self.dtype)
            layer.rng = self.rng
        self._feeds_params = self._layers_feeding_parameters()
        self.flat = FlatParameters(self.layers, self.dtype)
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(self.flat.values)

    def _layers_feeding_parameters(self) -> list[bool]:
        """Per layer: does its output flow into a layer with parameters (itself included)?

        Backward passes a gradient to a layer's input only where this holds, so nothing is
        computed for the model input, Flatten or augmentation layers before the first
        parameters.
        """
        flags = []
        for layer, parents in zip(self.layers, self._parents, strict=True):
            upstream = any(p >= 0 and flags[p] for p in parents)
            flags.append(bool(layer.params) or upstream)
        return flags

    @property
    def output_shape(self) -> tuple:
        return self.layers[-1].output_shape

    def compile(
        self, optimizer="adam", loss="categorical_crossentropy", metrics=None, learning_rate=None
    ) -> None:
        """Choose the optimizer, the loss and the metrics (names or objects)."""
        overrides = {} if learning_rate is None else {"learning_rate": learning_rate}
        self.optimizer = registry.get("optimizer", optimizer, **overrides)
        self.loss = registry.get("loss", loss)
        self.metric_names = list(metrics or [])
        self._metric_fns = {name: registry.get("metric", name) for name in self.metric_names}
        self.compiled = True
        if not self.built and self.input_shape is not None:
            self.build()
        elif self.built:
            self.optimizer.build(self.flat.values)

    @property
    def fused(self) -> bool:
        """True when the output activation and the loss are fused (dZ = A - Y)."""
        last = self.layers[-1]
        activation = getattr(last, "activation", None)
        return (
            self.loss is not None
            and self.loss.fuses_with is not None
            and activation is not None
            and activation.name == self.loss.fuses_with
            and not getattr(self.loss, "from_logits", False)
        )

    # ------------------------------------------------------------ forward/back
    def forward(self, x, training: bool = False):
        """A[L] for inputs x (m, *input_shape), keeping every layer's cache."""
        return self.layer_outputs(x, training)[-1]

    def layer_outputs(self, x, training: bool = False, last: int | None = None) -> list:
        """Every layer's output A[l], in layer order (the last is the model's output); with
        ``last``, only those of layers 0..last (the rest are not computed)."""
        stop = len(self.layers) if last is None else last + 1
        outputs = []
        for layer, parents in zip(self.layers[:stop], self._parents[:stop], strict=True):
            args = [x if p < 0 else outputs[p] for p in parents]
            outputs.append(layer.forward(args if layer.multi_input else args[0], training=training))
        return outputs

    def backward(self, dz_or_da, from_preactivation: bool) -> None:
        """Backpropagate from the output; gradients w.r.t. the model input are never computed.

        A layer output consumed by several layers receives the sum of their gradients.
        """
        last = len(self.layers) - 1
        grads = [None] * len(self.layers)
        grads[last] = dz_or_da
        for i in range(last, -1, -1):
            layer, parents, grad = self.layers[i], self._parents[i], grads[i]
            if grad is None:  # nothing before this layer has parameters
                continue
            grads[i] = None
            needs = [p >= 0 and self._feeds_params[p] for p in parents]
            if i == last and from_preactivation:
                d = layer.backward_preactivation(grad, need_input_grad=any(needs))
            else:
                d = layer.backward(grad, need_input_grad=any(needs))
            if not any(needs):
                continue
            for p, dp, need in zip(parents, d if layer.multi_input else [d], needs, strict=True):
                if need:
                    grads[p] = dp if grads[p] is None else grads[p] + dp

    def loss_and_output_grad(self, y, a):
        """(J, dZ or dA, fused?) for prepared targets y and outputs a."""
        if self.fused:
            value, grad = self.loss.fused_value_and_grad(y, self.layers[-1].preactivation, a)
            return value, grad, True
        value, grad = self.loss.value_and_grad(y, a)
        return value, grad, False

    def regularized(self):
        """(param, grad, regularizer) for every regularized parameter."""
        for layer in self.layers:
            for key, reg in layer.regularizers.items():
                yield layer.params[key], layer.grads[key], reg

    def compute_gradients(self, x, y, training: bool = True, n_examples: int | None = None):
        """Forward and backward on one batch: fill every grad; return (J, penalty, A).

        ``n_examples`` is M of the L2 term (lambda / 2M) ||W||^2: the training set size
        during fit, the batch size by default.
        """
        a = self.forward(x, training=training)
        value, grad, fused = self.loss_and_output_grad(y, a)
        self.backward(grad, from_preactivation=fused)
        m = n_examples or x.shape[0]
        penalty = 0.0
        for param, dparam, reg in self.regularized():
            reg.add_gradient(param, dparam, m)
            penalty += reg.cost(param, m)
        return value, penalty, a

    def train_step(self, x, y, n_examples: int | None = None):
        """One optimizer step on a batch; returns (data loss, penalty, outputs)."""
        value, penalty, a = self.compute_gradients(x, y, n_examples=n_examples)
        self.optimizer.step(self.flat.values, self.flat.grads)
        return value, penalty, a

    # ------------------------------------------------------------------- inputs
    def prepare_inputs(self, x, who: str = "fit"):
        """Validate x and move it to the array module with the model's dtype."""
        try:
            arr = np.asarray(backend.to_numpy(x))
        except (TypeError, ValueError) as err:
            raise InputValueError(f"{self.name}.{who}: x must be a numeric array ({err})") from None
        if arr.dtype.kind not in "biuf":
            raise InputValueError(f"{self.name}.{who}: x must be numeric, got dtype {arr.dtype}")
        if arr.ndim < 2:
            shape = self.input_shape or ("n_x",)
            raise ShapeError(
                f"{self.name}.{who}: expected x of shape (m, {', '.join(map(str, shape))}) "
                f"(batch first), got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise InputValueError(f"{self.name}.{who}: x is empty (0 examples)")
        # a NaN or inf makes the sum non-finite: one pass, no (m, ...) boolean array; the
        # count confirms it (huge finite values can overflow the sum too)
        if arr.dtype.kind == "f" and not np.isfinite(arr.sum(dtype=np.float64)):
            bad = int(np.size(arr) - np.isfinite(arr).sum())
            if bad:
                raise InputValueError(f"{self.name}.{who}: x contains {bad} NaN or inf values")
        if not self.built:
            self.build(arr.shape[1:])
        if tuple(arr.shape[1:]) != self.input_shape:
            first = self.layers[self._parents.index([-1])] if [-1] in self._parents else None
            if first is not None:
                first.check_input(arr)  # names the layer that would receive x
            expected = ", ".join(map(str, self.input_shape))
            raise ShapeError(
                f"{self.name}.{who}: expected x of shape (m, {expected}), got {arr.shape}"
            )
        return backend.xp.asarray(arr, dtype=self.dtype)

    def prepare_targets(self, y, m: int, who: str = "fit"):
        if y is None:
            raise InputValueError(f"{self.name}.{who}: y is required")
        y_host = np.asarray(backend.to_numpy(y))
        if y_host.ndim == 0 or y_host.shape[0] != m:
            raise ShapeError(
                f"{self.name}.{who}: x has {m} examples but y has "
                f"{y_host.shape[0] if y_host.ndim else 'no batch axis'} (shape {y_host.shape})"
            )
        if y_host.dtype.kind == "f" and y_host.dtype != self.dtype:
            y_host = y_host.astype(self.dtype)  # float targets in the model's precision
        return self.loss.prepare(backend.xp.asarray(y_host), self.output_shape)

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
            x, y: training examples (m, ...) and labels.
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
        x = self.prepare_inputs(x, "fit")
        y = self.prepare_targets(y, x.shape[0], "fit")
        if validation_data is None and validation_split:
            x, y, validation_data = _split_tail(x, y, validation_split, self.name)
        elif validation_data is not None:
            x_dev, y_dev = validation_data
            x_dev = self.prepare_inputs(x_dev, "fit(validation_data)")
            validation_data = (x_dev, self.prepare_targets(y_dev, x_dev.shape[0], "fit"))
        batch_size = _check_batch_size(batch_size, self.name)

        history = History()
        cbs = CallbackList([ProgressBar()] if verbose else [], callbacks, model=self)
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.optimizer.set_epoch(epoch)
            cbs.on_epoch_begin(epoch, {"steps": -(-x.shape[0] // batch_size), "epochs": epochs})
            logs = self._run_epoch(x, y, epoch, batch_size, shuffle, cbs, history)
            if logs is None:
                break
            if validation_data is not None:
                logs.update(
                    {
                        f"val_{k}": v
                        for k, v in self.evaluate(*validation_data, prepared=True).items()
                    }
                )
            logs["lr"] = self.optimizer.lr
            history.append(epoch, logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(history)
        return history

    def _run_epoch(self, x, y, epoch, batch_size, shuffle, cbs, history):
        """Train one epoch; return its logs, or None if the loss became NaN/inf."""
        m = x.shape[0]
        order = self._epoch_order(epoch, m, shuffle)
        total_loss, total_penalty, counts = 0.0, 0.0, {k: [0.0, 0] for k in self.metric_names}
        batches = _batches(x, y, order, batch_size)
        for step, (xb, yb) in enumerate(batches):
            with np.errstate(over="ignore", invalid="ignore"):  # a NaN loss is reported below
                value, penalty, a = self.train_step(xb, yb, n_examples=m)
            if not math.isfinite(value + penalty):
                history.stop_reason = (
                    f"loss became {value + penalty} at epoch {epoch + 1}, batch {step + 1} "
                    f"(learning rate {self.optimizer.lr:g}); training stopped. Lower the "
                    "learning rate, check the inputs' scale, or add batch normalization."
                )
                cbs.on_nan(history.stop_reason)
                return None
            n = xb.shape[0]
            total_loss += value * n
            total_penalty += penalty * n
            for key, fn in self._metric_fns.items():
                right, count = fn(yb, a)
                counts[key][0] += right
                counts[key][1] += count
            cbs.on_batch_end(step, {"loss": total_loss / min(m, (step + 1) * batch_size)})
        logs = {"loss": total_loss / m}
        if any(True for _ in self.regularized()):
            logs["penalty"] = total_penalty / m
        logs.update({k: right / count for k, (right, count) in counts.items()})
        return logs

    def _epoch_order(self, epoch, m, shuffle):
        if callable(shuffle):
            return backend.xp.asarray(shuffle(epoch, m))
        if shuffle:
            return self.rng.permutation(m)
        return None

    # ------------------------------------------------------- evaluate/predict
    def evaluate(self, x, y, batch_size=1024, prepared=False) -> dict:
        """{'loss': J, metric: value, ...} over (x, y) in inference mode (no penalty)."""
        self._require_compiled("evaluate")
        if not prepared:
            x = self.prepare_inputs(x, "evaluate")
            y = self.prepare_targets(y, x.shape[0], "evaluate")
        m = x.shape[0]
        total, counts = 0.0, {k: [0.0, 0] for k in self.metric_names}
        for start in range(0, m, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            a = self.forward(xb, training=False)
            value = self.loss_and_output_grad(yb, a)[0]
            total += value * xb.shape[0]
            for key, fn in self._metric_fns.items():
                right, count = fn(yb, a)
                counts[key][0] += right
                counts[key][1] += count
        result = {"loss": total / m}
        result.update({k: right / count for k, (right, count) in counts.items()})
        return result

    def predict(self, x, batch_size=1024) -> np.ndarray:
        """Outputs A[L] (m, *output_shape) in inference mode, as a NumPy array."""
        x = self.prepare_inputs(x, "predict")
        outputs = [
            backend.to_numpy(self.forward(x[s : s + batch_size], training=False)).copy()
            for s in range(0, x.shape[0], batch_size)
        ]
        return np.concatenate(outputs, axis=0)

    # ---------------------------------------------------------------- weights
    def named_parameters(self):
        """(name, param, grad) for every parameter, in layer order ('dense_1/W', ...)."""
        for layer in self.layers:
            for key, value in layer.params.items():
                yield f"{layer.name}/{key}", value, layer.grads[key]

    def get_weights(self) -> dict:
        """Copies of every parameter and state array, by name, as NumPy arrays."""
        weights = {}
        for layer in self.layers:
            for key, value in {**layer.params, **layer.state}.items():
                weights[f"{layer.name}/{key}"] = backend.to_numpy(value).copy()
        return weights

    def set_weights(self, weights: dict) -> None:
        """Copy arrays into the parameters and state, in place (views stay views)."""
        for layer in self.layers:
            for key, target in {**layer.params, **layer.state}.items():
                name = f"{layer.name}/{key}"
                if name not in weights:
                    raise ShapeError(f"{self.name}.set_weights: missing weight {name!r}")
                value = backend.xp.asarray(weights[name])
                if value.shape != target.shape:
                    raise ShapeError(
                        f"{self.name}.set_weights: {name} has shape {tuple(value.shape)}, "
                        f"expected {tuple(target.shape)}"
                    )
                target[...] = value

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> str:
        """A table of layers, output shapes and parameter counts (printed and returned)."""
        if not self.built:
            self.build()
        rows = [("Layer (type)", "Output shape", "Params")]
        for layer in self.layers:
            shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")"
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", shape, f"{layer.count_params():,}")
            )
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(widths)
        out = [f'Model: "{self.name}"', line]
        for i, row in enumerate(rows):
            out.append("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
            if i == 0:
                out.append("=" * sum(widths))
        trainable = sum(l.count_params() for l in self.layers if l.trainable)
        out += [
            line,
            f"Total params: {self.count_params():,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {self.count_params() - trainable:,}",
        ]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict:
        """JSON-able architecture: layers with their inputs ("inbound" names, "input" = x)."""
        names = [layer.name for layer in self.layers]
        return {
            "class": type(self).__name__,
            "name": self.name,
            "dtype": self.dtype.name,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "layers": [
                {
                    "class": type(layer).__name__,
                    "config": layer.get_config(),
                    "inbound": ["input" if p < 0 else names[p] for p in parents],
                }
                for layer, parents in zip(self.layers, self._parents, strict=True)
            ],
            "compile": None
            if not self.compiled
            else {
                "optimizer": self.optimizer.get_config(),
                "loss": self.loss.get_config(),
                "metrics": self.metric_names,
            },
        }

    def save(self, path, include_optimizer: bool = True, extra_metadata=None) -> None:
        """Write architecture (JSON) and weights (safetensors) to one file, atomically."""
        from ..saving.model_file import save_model

        save_model(self, path, include_optimizer=include_optimizer, extra_metadata=extra_metadata)


class Sequential(Model):
    """A linear stack of layers: each layer's input is the previous layer's output.

    Args:
        layers: the layers, in order; the first may be ``Input(shape)``.
        input_shape: shape of one example (without the batch axis), if no Input layer.
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.
    """

    def __init__(self, layers=None, input_shape=None, seed=None, dtype=None, name="sequential"):
        super().__init__(seed=seed, dtype=dtype, name=name)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer, giving it a unique name if it has none."""
        if not isinstance(layer, Layer):
            raise ConfigError(f"{self.name}.add: expected a Layer, got {type(layer).__name__}")
        if isinstance(layer, Input):
            if self.layers:
                raise ConfigError(f"{self.name}: Input must be the first layer")
            self.input_shape = layer.input_shape
            return
        if layer.multi_input:
            raise ConfigError(f"{self.name}: {layer.describe()} needs several inputs; use Model")
        if not self.layers and self.input_shape is None and getattr(layer, "input_shape", None):
            self.input_shape = layer.input_shape
        self._append(layer, [len(self.layers) - 1])


def _check_batch_size(batch_size, owner):
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ConfigError(f"{owner}.fit: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _split_tail(x, y, fraction, owner):
    """Hold out the last ``fraction`` of (x, y) as a dev set (Keras' validation_split)."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"{owner}.fit: validation_split must be in (0, 1), got {fraction}")
    n_dev = int(round(x.shape[0] * fraction))
    if n_dev < 1 or n_dev >= x.shape[0]:
        raise InputValueError(
            f"{owner}.fit: validation_split={fraction} leaves {n_dev} dev examples of {x.shape[0]}"
        )
    cut = x.shape[0] - n_dev
    return x[:cut], y[:cut], (x[cut:], y[cut:])


def _batches(x, y, order, batch_size):
    """Yield (x_batch, y_batch); gathered rows when shuffled, views when not."""
    xp = backend.xp
    m = x.shape[0]
    if order is None:
        for start in range(0, m, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    full = xp.empty((batch_size,) + x.shape[1:], dtype=x.dtype)
    for start in range(0, m, batch_size):
        idx = order[start : start + batch_size]
        out = full if idx.shape[0] == batch_size else None
        yield xp.take(x, idx, axis=0, out=out), y[idx]
