"""Shared test helpers: run an nnlab layer forward and backward next to the same op in torch;
read and write the error analysis' mistakes CSVs.

torch is imported lazily inside the functions: the test files that use these helpers call
``pytest.importorskip("torch")`` at module top, so they skip cleanly without torch.
"""

from __future__ import annotations

import csv

import numpy as np

from nnlab.practice.error_analysis import CSV_COLUMNS

TOL = {"float32": 1e-5, "float64": 1e-10}


def assert_close(actual, expected, dtype="float64", tol=None, what=""):
    """Elementwise |actual - expected| <= tol + tol |expected| (atol = rtol = tol)."""
    tol = TOL[np.dtype(dtype).name] if tol is None else tol
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


def run_layer(layer, x, da, training=True):
    """nnlab forward + backward on copies of x and da: (out, dx, {param: grad})."""
    x_in, da_in = x.copy(), da.copy()
    out = np.array(layer.forward(x_in, training=training), copy=True)
    dx = layer.backward(da_in, need_input_grad=True)
    dx = None if dx is None else np.array(dx, copy=True)
    np.testing.assert_array_equal(x_in, x, err_msg="layer modified its input")
    np.testing.assert_array_equal(da_in, da, err_msg="layer modified the upstream gradient")
    return out, dx, {key: np.array(g, copy=True) for key, g in layer.grads.items()}


def compare_with_torch(
    layer, torch_fn, x, seed=0, dtype="float64", training=True, tol=None, build=True
):
    """Assert nnlab's forward output, input gradient and parameter gradients equal torch's.

    Args:
        layer: an nnlab layer, built here for ``x.shape[1:]`` unless ``build=False``.
        torch_fn: ``torch_fn(x_t, params_t) -> out_t``; ``params_t`` maps each name of
            ``layer.params`` to a torch leaf tensor holding the same values.
        x: the input batch (cast to ``dtype``).
        seed: seeds the layer's build and the random upstream gradient da.
    Returns (out, dx, grads) from nnlab, for further checks.
    """
    import torch

    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=dtype)
    if build:
        layer.build(x.shape[1:], np.random.default_rng(seed + 1), dtype)
    params_t = {
        key: torch.tensor(np.array(value, copy=True), requires_grad=True)
        for key, value in layer.params.items()
    }
    da = rng.standard_normal((x.shape[0], *layer.output_shape)).astype(dtype)
    out, dx, grads = run_layer(layer, x, da, training=training)

    x_t = torch.tensor(x, requires_grad=True)
    out_t = torch_fn(x_t, params_t)
    out_t.backward(torch.tensor(da))
    name = type(layer).__name__
    assert out.dtype == np.dtype(dtype), f"{name}: output dtype {out.dtype} != {dtype}"
    assert_close(out, out_t.detach().numpy(), dtype, tol, f"{name} forward")
    assert_close(dx, x_t.grad.numpy(), dtype, tol, f"{name} input gradient")
    assert set(grads) == set(params_t)
    for key, p_t in params_t.items():
        assert_close(grads[key], p_t.grad.numpy(), dtype, tol, f"{name} d{key}")
    return out, dx, grads


# ------------------------------------------------------- mistakes CSVs (error analysis)
def read_rows(path):
    """(header, rows as dicts) of a CSV file."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def write_tagged(path, tags):
    """A mistakes CSV with one row per entry of ``tags`` (its 'tags' cell)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for i, tag in enumerate(tags):
            writer.writerow([i, 0, 1, 0.9, tag, ""])
    return path


def numeric_gradient(f, array, eps=1e-6):
    """Two-sided finite differences of the scalar f() w.r.t. every entry of ``array``
    (changed in place and restored), as a new float64 array of its shape."""
    grad = np.zeros(array.shape)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        out[i] = (plus - minus) / (2 * eps)
    return grad


def assert_model_gradients(model, xs, output_weights, rtol=1e-5, atol=1e-7):
    """Every parameter gradient of J = sum_k sum(output_k * r_k) (a float64 model, its
    outputs weighted by ``output_weights`` r_k) equals finite differences."""

    def cost():
        outputs = model.forward(xs)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        return sum(float(np.sum(o * r)) for o, r in zip(outputs, output_weights, strict=True))

    cost()
    model.backward(output_weights if len(output_weights) > 1 else output_weights[0])
    for name, param, grad in model.named_parameters():
        expected = numeric_gradient(cost, param)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol, err_msg=name)


def tiny_bert_checkpoint(folder, seed=0, hidden=32, layers=2):
    """Write a small randomly initialized BERT checkpoint folder (transformers' BertModel
    save_pretrained: config.json, model.safetensors) with all-MiniLM-L6-v2's tokenizer files
    beside it: a stand-in for a real checkpoint, to run training quickly.  Returns the
    folder.  Needs torch, transformers and the MiniLM package (``importorskip`` them)."""
    import shutil
    from pathlib import Path

    import torch
    import transformers

    from nnlab.data.tokenization import minilm_folder

    folder = Path(folder)
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
    )
    transformers.BertModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(minilm_folder() / name, folder / name)
    return folder
