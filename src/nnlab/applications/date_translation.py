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

with s<0> = c<0> = 0 given as inputs.  Its outputs do not read y<t-1>: the distributions
P(y<t> | x) of the steps are independent given x, so the argmax at every step is the most
probable sequence (greedy decoding is exact, and beam search finds the same).

``feed_previous=True`` makes a decoder that reads what it said: the post-attention LSTM
reads [context<t>, y<t-1>] (m, 1, 2 n_a + n_y), y<t-1> one-hot and y<0> = 0 (the start,
id ``start_id`` = n_y, whose one-hot row is all zeros), so that

    P(y<1..Ty> | x) = prod_t P(y<t> | x, y<1..t-1>)

and the argmax of each step no longer gives the most probable sequence (beam search may
find a better one).  Training feeds the true y<t-1> (teacher forcing: ``inputs(x, y)``);
decoding feeds the model's own choices, one step at a time: the encoder runs once, then
``step_model``, over the same layers, maps (a, s<t-1>, c<t-1>, y<t-1>) to (P(y<t>), s<t>,
c<t>, alpha<t>).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..data.dates import human_form
from ..exceptions import ConfigError, ShapeError
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
from .decoding import beam_search, corpus_bleu, greedy_decode, log_probabilities

#: the layers' names (``from_model`` finds them by these in a loaded model)
LAYER_NAMES = {
    "encoder": "encoder",
    "repeat": "repeat_s",
    "concat": "concat_a_s",
    "dense_tanh": "attention_dense_tanh",
    "dense_relu": "attention_energies",
    "softmax": "attention_weights",
    "dot": "context",
    "concat_y": "concat_context_y",
    "post": "post_attention_lstm",
    "output": "output",
}


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
        feed_previous: the post-attention LSTM also reads y<t-1> (module docstring);
            False: the course's model.
        seed: seeds the initial weights.
        dtype: the models' float type ("float32", the default, or "float64").
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
        feed_previous=False,
        seed=0,
        dtype=None,
        _model=None,
    ):
        self.tx, self.ty, self.n_a, self.n_s = tx, ty, n_a, n_s
        self.human_size, self.machine_size = human_size, machine_size
        self.energy_activation, self.feed_previous = energy_activation, bool(feed_previous)
        self._encoder_model = self._step_model = None
        if _model is not None:
            self._find_layers(_model)
            self.model = _model
            return
        self.encoder = Bidirectional(LSTM(n_a, return_sequences=True), name="encoder")
        self.repeat = RepeatVector(tx, name="repeat_s")
        self.concat = Concatenate(axis=-1, name="concat_a_s")
        self.dense_tanh = Dense(10, activation="tanh", name="attention_dense_tanh")
        self.dense_relu = Dense(1, activation=energy_activation, name="attention_energies")
        self.softmax = Softmax(axis=1, name="attention_weights")
        self.dot = Dot(axes=1, name="context")
        self.concat_y = Concatenate(axis=-1, name="concat_context_y") if feed_previous else None
        self.post = LSTM(n_s, return_state=True, name="post_attention_lstm")
        self.output = Dense(machine_size, activation="softmax", name="output")
        self.model = self._unrolled(seed, dtype)

    # ------------------------------------------------------------ the models
    def config(self) -> dict:
        """The arguments that rebuild this translator's architecture (JSON-able)."""
        return {
            "human_size": self.human_size,
            "machine_size": self.machine_size,
            "tx": self.tx,
            "ty": self.ty,
            "n_a": self.n_a,
            "n_s": self.n_s,
            "energy_activation": self.energy_activation,
            "feed_previous": self.feed_previous,
        }

    @classmethod
    def from_model(cls, model, config: dict) -> DateTranslator:
        """The translator of a (loaded) unrolled model whose ``config()`` was ``config``:
        its layers are found by name, so the decoding models share the loaded weights."""
        return cls(**config, _model=model)

    def _find_layers(self, model) -> None:
        names = dict(LAYER_NAMES)
        if not self.feed_previous:
            self.concat_y = None
            del names["concat_y"]
        for attribute, name in names.items():
            setattr(self, attribute, model.get_layer(name))
        expected = 3 + (self.ty if self.feed_previous else 0)
        if model.n_inputs != expected or len(model.output_names) != self.ty:
            raise ConfigError(
                f"DateTranslator.from_model: expected {expected} inputs and Ty = {self.ty} "
                f"outputs (feed_previous={self.feed_previous}), got {model.n_inputs} inputs "
                f"and {len(model.output_names)} outputs"
            )

    def attention(self, a, s):
        """(context (m, 1, 2 n_a), alphas (m, Tx, 1)) nodes: one_step_attention."""
        e = self.dense_relu(self.dense_tanh(self.concat([a, self.repeat(s)])))
        alphas = self.softmax(e)
        return self.dot([alphas, a]), alphas

    def step(self, a, s, c, y_prev=None):
        """One output step: (y<t>, s<t>, c<t>, alphas) nodes; ``y_prev`` (m, 1, n_y) the
        previous output (feed_previous only)."""
        context, alphas = self.attention(a, s)
        if self.feed_previous:
            context = self.concat_y([context, y_prev])
        s, _, c = self.post(context, initial_state=[s, c])
        return self.output(s), s, c, alphas

    def _unrolled(self, seed, dtype) -> Model:
        x = Input((self.tx, self.human_size), name="x")
        s0, c0 = Input((self.n_s,), name="s0"), Input((self.n_s,), name="c0")
        fed = [
            Input((1, self.machine_size), name=f"y_prev_{t + 1}")
            for t in range(self.ty if self.feed_previous else 0)
        ]
        a, s, c, outputs = self.encoder(x), s0, c0, []
        for t in range(self.ty):
            y, s, c, _ = self.step(a, s, c, fed[t] if fed else None)
            outputs.append(y)
        return Model([x, s0, c0, *fed], outputs, seed=seed, dtype=dtype, name="date_translator")

    def _built(self) -> Model:
        if not self.model.built:
            self.model.build()
        return self.model

    @property
    def encoder_model(self) -> Model:
        """X (m, Tx, n_h) -> a (m, Tx, 2 n_a): the encoder's layer, shared with ``model``."""
        if self._encoder_model is None:
            model = self._built()
            x = Input((self.tx, self.human_size), name="x")
            self._encoder_model = Model(x, self.encoder(x), dtype=model.dtype, name="encoder")
            self._encoder_model.build()
        return self._encoder_model

    @property
    def step_model(self) -> Model:
        """[a, s<t-1>, c<t-1>(, y<t-1> (m, 1, n_y))] -> [P(y<t>) (m, n_y), s<t>, c<t>,
        alpha<t> (m, Tx, 1)]: one decoding step over ``model``'s layers (their weights)."""
        if self._step_model is None:
            model = self._built()
            a = Input((self.tx, 2 * self.n_a), name="a")
            s, c = Input((self.n_s,), name="s"), Input((self.n_s,), name="c")
            fed = [Input((1, self.machine_size), name="y_prev")] if self.feed_previous else []
            probs, s_next, c_next, alphas = self.step(a, s, c, fed[0] if fed else None)
            self._step_model = Model(
                [a, s, c, *fed], [probs, s_next, c_next, alphas], dtype=model.dtype, name="step"
            )
            self._step_model.build()
        return self._step_model

    # ----------------------------------------------------------------- data
    @property
    def start_id(self) -> int:
        """The start token fed at the first step: n_y, one past the machine characters
        (its one-hot row is all zeros: y<0> = 0)."""
        return self.machine_size

    def previous_one_hot(self, ids) -> np.ndarray:
        """(n,) ids (``start_id`` for y<0>) as (n, 1, n_y) one-hot rows, zeros for the start."""
        ids = np.asarray(ids)
        eye = np.eye(self.machine_size + 1, self.machine_size, dtype=np.float32)
        return eye[ids][:, None, :]

    def inputs(self, x_onehot, y_ids=None) -> list:
        """The unrolled model's inputs for one-hot X (m, Tx, n_h): X and s<0> = c<0> = 0;
        with ``feed_previous`` also y<t-1> for t = 1..Ty (teacher forcing: y<0> = 0, then
        the one-hot of ``y_ids`` (m, Ty) shifted by one step)."""
        zeros = np.zeros((x_onehot.shape[0], self.n_s), dtype=np.float32)
        inputs = [x_onehot, zeros, zeros.copy()]
        if not self.feed_previous:
            return inputs
        if y_ids is None:
            raise ConfigError(
                "DateTranslator.inputs: feed_previous=True needs y_ids, the outputs fed back "
                "(the targets when training; see decode for translating)"
            )
        y_ids = np.asarray(y_ids)
        if y_ids.shape != (x_onehot.shape[0], self.ty):
            raise ShapeError(
                f"DateTranslator.inputs: y_ids must have shape (m, Ty) = "
                f"({x_onehot.shape[0]}, {self.ty}), got {y_ids.shape}"
            )
        fed = np.concatenate([np.full((len(y_ids), 1), self.start_id), y_ids[:, :-1]], axis=1)
        return inputs + [self.previous_one_hot(fed[:, t]) for t in range(self.ty)]

    def targets(self, y_ids) -> list:
        """One (m,) id array per output step."""
        return [y_ids[:, t] for t in range(self.ty)]

    # ------------------------------------------------------------- decoding
    def decoder(self, x_onehot):
        """(step_fn, initial_state) for :func:`~nnlab.applications.decoding.greedy_decode`
        and :func:`~nnlab.applications.decoding.beam_search`: the encoder runs once; the
        state is (a, s, c), one row per hypothesis, and each step runs ``step_model``."""
        a = self.encoder_model.predict(x_onehot)
        zeros = np.zeros((len(a), self.n_s), dtype=a.dtype)
        step_model = self.step_model

        def step_fn(tokens, state):
            a, s, c = state
            inputs = [a, s, c]
            if self.feed_previous:
                inputs.append(self.previous_one_hot(tokens))
            probs, s, c, _ = step_model.predict(inputs, batch_size=len(a))
            return log_probabilities(probs), (a, s, c)

        return step_fn, (a, zeros, zeros.copy())

    def decode(self, x_onehot, k: int = 1, alpha: float = 0.7):
        """Translate X (m, Tx, n_h) one step at a time: greedy decoding (k = 1) or beam
        search of width k with the length normalization ``alpha``; a
        :class:`~nnlab.applications.decoding.Decoded` of (m, Ty) ids."""
        step_fn, state = self.decoder(x_onehot)
        if k == 1:
            return greedy_decode(step_fn, state, self.start_id, self.ty, alpha=alpha)
        return beam_search(step_fn, state, self.start_id, k, self.ty, alpha=alpha)

    def predict_ids(self, x_onehot, k: int = 1, alpha: float = 0.7) -> np.ndarray:
        """(m, Ty) ids: greedy decoding (k = 1; the course's model: the argmax of each
        step of the unrolled model), or beam search of width k."""
        if k == 1 and not self.feed_previous:
            outputs = self.model.predict(self.inputs(x_onehot))
            return np.stack([o.argmax(axis=-1) for o in outputs], axis=1)
        return self.decode(x_onehot, k, alpha).tokens

    def attention_map(self, x_onehot, y_ids=None) -> np.ndarray:
        """alpha<t, t'> (m, Ty, Tx): how much output step t read input character t' while
        the model wrote ``y_ids`` (m, Ty) (feed_previous; default: its greedy translation),
        the outputs of the unrolled model's Ty softmax calls in an inference forward."""
        model = self._built()
        if self.feed_previous and y_ids is None:
            y_ids = self.predict_ids(x_onehot)
        inputs = self.inputs(x_onehot, y_ids)
        xs = model.input_list(model.prepare_inputs(inputs, "attention_map"))
        values = model.run_calls(xs)
        alphas = [
            v for v, call in zip(values, model.calls, strict=True) if call.layer is self.softmax
        ]
        return np.stack([backend.to_numpy(a)[:, :, 0] for a in alphas], axis=1)


# ------------------------------------------------------------ dates in and out
def encode_pairs(vocab, pairs) -> tuple[np.ndarray, np.ndarray]:
    """(X (m, Tx, n_h) one-hot, Y (m, Ty) ids) of (human, ISO) pairs, by a
    :class:`~nnlab.data.dates.DateVocabulary`."""
    x = vocab.one_hot(vocab.encode_human([human for human, _ in pairs]), vocab.human_size)
    return x, vocab.encode_machine([iso for _, iso in pairs])


def translate(translator, vocab, texts, k: int = 1, alpha: float = 0.7) -> list[str]:
    """The ISO strings of human-readable dates (read as ``human_form``: lower-cased, no
    commas), by greedy decoding (k = 1) or beam search of width k."""
    x = vocab.one_hot(vocab.encode_human([human_form(t) for t in texts]), vocab.human_size)
    return vocab.decode_machine(translator.predict_ids(x, k=k, alpha=alpha))


def evaluate(translator, vocab, pairs, k: int = 1, alpha: float = 0.7) -> dict:
    """On (human, ISO) pairs: ``exact_match``, the share translated with every character
    right, and ``bleu``, sacreBLEU's corpus BLEU with each ISO date a sentence of 10
    characters (:func:`~nnlab.applications.decoding.corpus_bleu`), of greedy decoding
    (k = 1) or beam search of width k."""
    x, y = encode_pairs(vocab, pairs)
    ids = translator.predict_ids(x, k=k, alpha=alpha)
    hypotheses = vocab.decode_machine(ids)
    return {
        "exact_match": float((ids == y).all(axis=1).mean()),
        "bleu": corpus_bleu(hypotheses, [iso for _, iso in pairs]),
        "dates": len(pairs),
    }
