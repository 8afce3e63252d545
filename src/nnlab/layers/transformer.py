"""The course's transformer blocks (Course 5, week 4): an encoder layer and a decoder layer,
post-norm as in Vaswani et al. 2017, the course and PyTorch's default.

Each block is a small object holding its layers and called on graph nodes (the functional
API), so its layers show in the model's summary and save with it:

    EncoderLayer(x, mask):                                     x (m, T, d)
        a  = MultiHeadAttention(x, x, mask)                    self-attention
        x1 = LayerNorm(x + a)
        f  = Dropout(Dense(d)(Dense(d_ff, relu)(x1)))          the position-wise FFN
        out = LayerNorm(x1 + f)

    DecoderLayer(y, enc, target_mask, memory_mask):            y (m, Ty, d), enc (m, Tx, d)
        a1 = MultiHeadAttention(y, y, target_mask, causal)     masked self-attention
        q1 = LayerNorm(y + a1)
        a2 = MultiHeadAttention(q1, enc, memory_mask)          attention over the encoder
        x2 = LayerNorm(q1 + a2)
        out = LayerNorm(x2 + Dropout(FFN(x2)))

Masks are (m, T) inputs, 1 for a real token and 0 for padding (``PaddingMask`` makes one
from token ids); the decoder's self-attention also applies the look-ahead mask (query t
reads positions <= t).  Dropout: the attention weights' (``dropout`` of the attention
layers) and the FFN output's, as the course's layers; BERT's also drops the attention
output before its residual (``EncoderLayer(attention_output_dropout=True)``), PyTorch's
that and the FFN's hidden layer (equal when dropout is 0).  The course sets the
attention's ``key_dim`` to d_model; the default here, d_model / heads, is Vaswani et al.'s
and PyTorch's (``key_dim=`` chooses).
"""

from __future__ import annotations

from ..exceptions import ConfigError
from .attention import MultiHeadAttention
from .core import Dense
from .merging import Add
from .normalization import LayerNormalization
from .regularization import Dropout


class _Block:
    """What both blocks share: the checks, the FFN and the residual + LayerNorm steps."""

    residuals = 2  # residual connections, each followed by a LayerNorm

    def __init__(self, d_model, num_heads, d_ff, dropout, epsilon, key_dim, activation, name):
        for arg, value in (("d_model", d_model), ("num_heads", num_heads), ("d_ff", d_ff)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{type(self).__name__}: {arg} must be an int >= 1, got {value!r}"
                )
        if key_dim is None and d_model % num_heads:
            raise ConfigError(
                f"{type(self).__name__}: d_model ({d_model}) must be a multiple of num_heads "
                f"({num_heads}), or give key_dim"
            )
        self.d_model, self.num_heads, self.d_ff = d_model, num_heads, d_ff
        self.key_dim = key_dim or d_model // num_heads
        self.dropout, self.epsilon, self.name = dropout, epsilon, name
        self.ffn_hidden = Dense(d_ff, activation=activation, name=f"{name}_ffn_hidden")
        self.ffn_output = Dense(d_model, name=f"{name}_ffn_output")
        self.ffn_dropout = Dropout(dropout, name=f"{name}_ffn_dropout")
        numbers = range(1, self.residuals + 1)
        self.adds = [Add(name=f"{name}_residual{k}") for k in numbers]
        self.norms = [LayerNormalization(epsilon, name=f"{name}_norm{k}") for k in numbers]

    def attention(self, suffix, causal=False):
        return MultiHeadAttention(
            self.num_heads,
            self.key_dim,
            dropout=self.dropout,
            causal=causal,
            name=f"{self.name}_{suffix}",
        )

    def add_and_norm(self, k: int, x, y):
        """LayerNorm_k(x + y), the block's k-th residual connection (from 0)."""
        return self.norms[k](self.adds[k]([x, y]))

    def ffn(self, x):
        return self.ffn_dropout(self.ffn_output(self.ffn_hidden(x)))


class EncoderLayer(_Block):
    """The course's EncoderLayer (module docstring), called on a node ``x`` (m, T, d).

    Args:
        d_model: d, the width of every position's vector.
        num_heads: H.
        d_ff: the FFN's hidden width (the course's ``fully_connected_dim``).
        dropout: the attention weights' and the FFN output's dropout rate.
        epsilon: the LayerNorms' epsilon (the course's 1e-6).
        key_dim: each head's size (default d_model / num_heads).
        activation: the FFN's hidden activation ("relu"; BERT's "gelu").
        attention_output_dropout: also drop the attention output before its residual
            connection, as BERT (Hugging Face's ``BertSelfOutput``) and PyTorch do; the
            course does not.
    """

    def __init__(
        self, d_model, num_heads, d_ff, dropout=0.1, epsilon=1e-6, key_dim=None,
        activation="relu", name="encoder_layer", attention_output_dropout=False,
    ):  # fmt: skip
        super().__init__(d_model, num_heads, d_ff, dropout, epsilon, key_dim, activation, name)
        self.self_attention = self.attention("self_attention")
        self.attention_dropout = (
            Dropout(dropout, name=f"{name}_attention_dropout") if attention_output_dropout else None
        )

    def __call__(self, x, mask=None):
        """The block's output node (m, T, d); ``mask`` (m, T): 1 real, 0 padding."""
        attended = self.self_attention(x, x, attention_mask=mask)
        if self.attention_dropout is not None:
            attended = self.attention_dropout(attended)
        x1 = self.add_and_norm(0, x, attended)
        return self.add_and_norm(1, x1, self.ffn(x1))


class DecoderLayer(_Block):
    """The course's DecoderLayer (module docstring), called on the target node y
    (m, Ty, d) and the encoder's output (m, Tx, d).  Arguments as EncoderLayer's."""

    residuals = 3

    def __init__(
        self, d_model, num_heads, d_ff, dropout=0.1, epsilon=1e-6, key_dim=None,
        activation="relu", name="decoder_layer",
    ):  # fmt: skip
        super().__init__(d_model, num_heads, d_ff, dropout, epsilon, key_dim, activation, name)
        self.self_attention = self.attention("self_attention", causal=True)
        self.cross_attention = self.attention("cross_attention")

    def __call__(self, y, encoder_output, target_mask=None, memory_mask=None):
        """The block's output node (m, Ty, d).  ``target_mask`` (m, Ty) and
        ``memory_mask`` (m, Tx): 1 real, 0 padding; the look-ahead mask is always on."""
        attended = self.self_attention(y, y, attention_mask=target_mask)
        q1 = self.add_and_norm(0, y, attended)
        read = self.cross_attention(q1, encoder_output, attention_mask=memory_mask)
        x2 = self.add_and_norm(1, q1, read)
        return self.add_and_norm(2, x2, self.ffn(x2))
