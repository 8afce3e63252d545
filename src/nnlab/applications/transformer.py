"""The course's Transformer (Course 5, week 4): an encoder-decoder of nnlab layers.

For source ids x (m, Tx) and the target ids shifted right, y_in (m, Ty) (a start id, then
the target without its last token: teacher forcing):

    enc = Dropout(PositionalEncoding(sqrt(d) * Embedding_x(x)))            (m, Tx, d)
    enc = EncoderLayer_l(enc, mask_x)                  l = 1..N
    dec = Dropout(PositionalEncoding(sqrt(d) * Embedding_y(y_in)))        (m, Ty, d)
    dec = DecoderLayer_l(dec, enc, mask_y, mask_x)     l = 1..N (look-ahead in each)
    P(y<t> | x, y<1..t-1>) = softmax(Dense(V_y)(dec))                     (m, Ty, V_y)

mask_x, mask_y: ``PaddingMask`` of the ids (1 real, 0 for id 0).  Decoding one token at a
time (greedy or beam search, ``applications.decoding``) runs the model on the prefix
decoded so far; the look-ahead mask makes position t read only positions <= t, so the
prediction at t is the same as in training.
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import Dense, Dropout, Embedding, Input, PaddingMask, PositionalEncoding, Rescaling
from ..layers.transformer import DecoderLayer, EncoderLayer
from ..training.model import Model


def transformer(
    input_vocab_size: int,
    target_vocab_size: int,
    max_input_length: int,
    max_target_length: int,
    num_layers: int = 2,
    d_model: int = 64,
    num_heads: int = 4,
    d_ff: int = 128,
    dropout: float = 0.1,
    epsilon: float = 1e-6,
    seed: int = 0,
    dtype=None,
    name: str = "transformer",
) -> Model:
    """The course's Transformer (module docstring) as a ``Model([x, y_in], probs)``.

    Args:
        input_vocab_size, target_vocab_size: V_x, V_y (id 0 is padding in both).
        max_input_length, max_target_length: Tx, Ty.
        num_layers: N, the encoder's and the decoder's layers.
        d_model, num_heads, d_ff: d, H, the FFN's hidden width (the course's
            ``fully_connected_dim``).
        dropout, epsilon: the blocks' dropout rate and LayerNorm epsilon.
    """
    x = Input((max_input_length,), dtype="int32", name="source_ids")
    y_in = Input((max_target_length,), dtype="int32", name="target_ids_shifted")
    mask_x = PaddingMask(name="source_mask")(x)
    mask_y = PaddingMask(name="target_mask")(y_in)
    enc = _embedded(x, input_vocab_size, d_model, max_input_length, dropout, "source")
    for i in range(num_layers):
        block = EncoderLayer(d_model, num_heads, d_ff, dropout, epsilon, name=f"encoder_layer{i}")
        enc = block(enc, mask_x)
    dec = _embedded(y_in, target_vocab_size, d_model, max_target_length, dropout, "target")
    for i in range(num_layers):
        block = DecoderLayer(d_model, num_heads, d_ff, dropout, epsilon, name=f"decoder_layer{i}")
        dec = block(dec, enc, target_mask=mask_y, memory_mask=mask_x)
    probs = Dense(target_vocab_size, activation="softmax", name="next_token")(dec)
    return Model([x, y_in], probs, seed=seed, dtype=dtype, name=name)


def _embedded(ids, vocab_size, d_model, length, dropout, side):
    """Dropout(PositionalEncoding(sqrt(d) Embedding(ids)))."""
    e = Embedding(vocab_size, d_model, name=f"{side}_embedding")(ids)
    e = Rescaling(math.sqrt(d_model), name=f"{side}_scale")(e)
    e = PositionalEncoding(length, name=f"{side}_positions")(e)
    return Dropout(dropout, name=f"{side}_dropout")(e)


def shift_right(target_ids, start_id: int) -> np.ndarray:
    """The decoder's input in training: (m, Ty) -> start_id, then y<1..Ty-1>."""
    target_ids = np.asarray(target_ids)
    shifted = np.empty_like(target_ids)
    shifted[:, 0] = start_id
    shifted[:, 1:] = target_ids[:, :-1]
    return shifted


def greedy_translate(model: Model, source_ids, start_id: int, length: int) -> np.ndarray:
    """(m, length) ids decoded one at a time: y<t> = argmax P(. | x, y<1..t-1>)."""
    source_ids = np.asarray(source_ids)
    decoded = np.zeros((len(source_ids), length), dtype=np.int64)
    prefix = np.zeros_like(decoded)
    prefix[:, 0] = start_id
    for t in range(length):
        probs = model.predict([source_ids, prefix])  # (m, Ty, V): position t is the next
        decoded[:, t] = probs[:, t].argmax(axis=-1)
        if t + 1 < length:
            prefix[:, t + 1] = decoded[:, t]
    return decoded
