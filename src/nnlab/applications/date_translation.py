"""Neural machine translation with attention (Course 5, week 3): human dates -> ISO dates.

The course's model, with Tx = 30 input characters (one-hot, n_h of them) and Ty = 10
output characters:

    a = Bidirectional(LSTM(n_a, return_sequences=True))(X)             (m, Tx, 2 n_a)
    for t = 1..Ty, with the layers shared across the steps:
        one_step_attention(a, s<t-1>):
            e = Dense(10, tanh)([a, RepeatVector(Tx)(s<t-1>)])          (m, Tx, 10)
            energies = Dense(1, relu)(e)                                (m, Tx, 1)
            alpha<t> = Softmax(axis=1)(energies)                        sums to 1 over t'
            context<t> = Dot(axes=1)([alpha<t>, a])                     (m, 1, 2 n_a)
        s<t>, _, c<t> = LSTM(n_s, return_state=True)(context<t>, initial_state=[s<t-1>, c<t-1>])
        y<t> = Dense(n_y, softmax)(s<t>)                                (m, n_y)

with s<0> = c<0> = 0 given as inputs.  The outputs y<t> do not read y<t-1>, so the
argmax at every step is the most probable sequence (greedy decoding is exact here).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..layers import (
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Dot,
    Input,
    RepeatVector,
    Softmax,
)
from ..training.model import Model


class DateTranslator:
    """The course's attention model (module docstring), its layers shared across steps.

    Args:
        human_size, machine_size: the vocabularies' sizes (n_h, n_y).
        tx, ty: input and output lengths.
        n_a, n_s: the encoder's and the post-attention LSTM's sizes (the course: 32, 64).
        energy_activation: the energies' activation, the course's "relu".  Trained from
            scratch (the course loads trained weights), its energies can all fall below 0:
            then alpha is uniform, 1 / Tx, and stays so (no gradient passes a dead ReLU);
            "linear" keeps the attention alive.
    """

    def __init__(
        self,
        human_size,
        machine_size,
        tx=30,
        ty=10,
        n_a=32,
        n_s=64,
        energy_activation="relu",
        seed=0,
    ):
        self.tx, self.ty, self.n_s = tx, ty, n_s
        self.human_size, self.machine_size = human_size, machine_size
        self.encoder = Bidirectional(LSTM(n_a, return_sequences=True), name="encoder")
        self.repeat = RepeatVector(tx, name="repeat_s")
        self.concat = Concatenate(axis=-1, name="concat_a_s")
        self.dense_tanh = Dense(10, activation="tanh", name="attention_dense_tanh")
        self.dense_relu = Dense(1, activation=energy_activation, name="attention_energies")
        self.softmax = Softmax(axis=1, name="attention_weights")
        self.dot = Dot(axes=1, name="context")
        self.post = LSTM(n_s, return_state=True, name="post_attention_lstm")
        self.output = Dense(machine_size, activation="softmax", name="output")
        self.model = self._unrolled(seed)

    def attention(self, a, s):
        """(context (m, 1, 2 n_a), alphas (m, Tx, 1)) nodes: one_step_attention."""
        e = self.dense_relu(self.dense_tanh(self.concat([a, self.repeat(s)])))
        alphas = self.softmax(e)
        return self.dot([alphas, a]), alphas

    def step(self, a, s, c):
        """One output step: (y<t>, s<t>, c<t>, alphas) nodes."""
        context, alphas = self.attention(a, s)
        s, _, c = self.post(context, initial_state=[s, c])
        return self.output(s), s, c, alphas

    def _unrolled(self, seed) -> Model:
        x = Input((self.tx, self.human_size), name="x")
        s0, c0 = Input((self.n_s,), name="s0"), Input((self.n_s,), name="c0")
        a, s, c, outputs = self.encoder(x), s0, c0, []
        for _ in range(self.ty):
            y, s, c, _ = self.step(a, s, c)
            outputs.append(y)
        return Model([x, s0, c0], outputs, seed=seed, name="date_translator")

    # ----------------------------------------------------------------- data
    def inputs(self, x_onehot) -> list:
        """The model's inputs for one-hot X (m, Tx, n_h): X and s<0> = c<0> = 0."""
        zeros = np.zeros((x_onehot.shape[0], self.n_s), dtype=np.float32)
        return [x_onehot, zeros, zeros.copy()]

    def targets(self, y_ids) -> list:
        """One (m,) id array per output step."""
        return [y_ids[:, t] for t in range(self.ty)]

    def attention_map(self, x_onehot) -> np.ndarray:
        """alpha<t, t'> (m, Ty, Tx): how much output step t read input character t', the
        outputs of the model's Ty softmax calls in an inference forward.  (Not a second
        Model over the same layers: building one would initialize the shared layers
        again.)"""
        model = self.model
        if not model.built:
            model.build()
        xs = model.input_list(model.prepare_inputs(self.inputs(x_onehot), "attention_map"))
        values = model.run_calls(xs)
        alphas = [
            v for v, call in zip(values, model.calls, strict=True) if call.layer is self.softmax
        ]
        return np.stack([backend.to_numpy(a)[:, :, 0] for a in alphas], axis=1)

    def predict_ids(self, x_onehot) -> np.ndarray:
        """(m, Ty) argmax ids (greedy decoding)."""
        outputs = self.model.predict(self.inputs(x_onehot))
        return np.stack([o.argmax(axis=-1) for o in outputs], axis=1)
