"""Transformer layers against PyTorch's own modules: nn.MultiheadAttention (weights copied,
padding and look-ahead masks), nn.LayerNorm and GELU in both forms, values and every
gradient; the course's positional encoding by hand."""

import math

import numpy as np
import pytest

from nnlab import layers as L
from nnlab.layers.attention import sinusoidal_encoding
from nnlab.ops.activations import Gelu
from nnlab.training.model import Model

torch = pytest.importorskip("torch")


def copy_into_torch(mha: L.MultiHeadAttention, module):
    """nnlab's kernels (d, H, d_h) / (H, e, d) into nn.MultiheadAttention's in_proj (3E, E)
    and out_proj (E, E) (PyTorch computes x W^T + b)."""
    p = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in mha.params.items()}
    e = module.embed_dim
    with torch.no_grad():
        weights = [p[f"{n}_kernel"].reshape(e, e).T for n in ("query", "key", "value")]
        module.in_proj_weight.copy_(torch.cat(weights))
        module.in_proj_bias.copy_(
            torch.cat([p[f"{n}_bias"].reshape(e) for n in ("query", "key", "value")])
        )
        module.out_proj.weight.copy_(p["output_kernel"].reshape(e, e).T)
        module.out_proj.bias.copy_(p["output_bias"])


def run_both(m=3, t=5, e=8, heads=2, causal=False, padded=True, cross=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, t, e)).astype(np.float32)
    memory = rng.standard_normal((m, t + 2, e)).astype(np.float32) if cross else x
    tk = memory.shape[1]
    lengths = rng.integers(2, tk + 1, m) if padded else np.full(m, tk)
    lengths[0] = tk
    mask = (np.arange(tk)[None, :] < lengths[:, None]).astype(np.float32)  # (m, Tk)
    mha = L.MultiHeadAttention(heads, e // heads, causal=causal)
    shapes = [(t, e), (tk, e), (tk, e), (tk,)]
    mha.build(shapes, np.random.default_rng(1), "float32")
    mha.params["query_bias"][...] = rng.standard_normal(mha.params["query_bias"].shape)
    mha.params["output_bias"][...] = rng.standard_normal(mha.params["output_bias"].shape)
    out = mha.forward([x, memory, memory, mask])
    da = rng.standard_normal(out.shape).astype(np.float32)
    dx, dmem, dkey, dmask = mha.backward(da)
    assert dmask is None

    module = torch.nn.MultiheadAttention(e, heads, batch_first=True, dtype=torch.float64)
    copy_into_torch(mha, module)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    mt = xt if not cross else torch.tensor(memory, dtype=torch.float64, requires_grad=True)
    kt = torch.tensor(memory, dtype=torch.float64, requires_grad=True) if cross else xt
    look_ahead = torch.ones(t, tk, dtype=torch.bool).triu(1) if causal else None  # True: forbid
    out_t, _ = module(xt, kt, mt, key_padding_mask=torch.tensor(mask == 0), attn_mask=look_ahead)
    (out_t * torch.tensor(da, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-5)
    if cross:
        np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-5)
        np.testing.assert_allclose(dmem, mt.grad.numpy(), atol=1e-5)
        np.testing.assert_allclose(dkey, kt.grad.numpy(), atol=1e-5)
    else:
        np.testing.assert_allclose(dx + dmem + dkey, xt.grad.numpy(), atol=1e-5)
    e_ = module.embed_dim
    grads = {n: mha.grads[f"{n}_kernel"].reshape(e_, e_).T for n in ("query", "key", "value")}
    in_proj = np.concatenate([grads[n] for n in ("query", "key", "value")])
    np.testing.assert_allclose(in_proj, module.in_proj_weight.grad.numpy(), atol=1e-5)
    bias = np.concatenate([mha.grads[f"{n}_bias"].reshape(e_) for n in ("query", "key", "value")])
    np.testing.assert_allclose(bias, module.in_proj_bias.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        mha.grads["output_kernel"].reshape(e_, e_).T, module.out_proj.weight.grad.numpy(), atol=1e-5
    )
    np.testing.assert_allclose(
        mha.grads["output_bias"], module.out_proj.bias.grad.numpy(), atol=1e-5
    )


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_torch_with_padding(causal):
    run_both(causal=causal)


def test_cross_attention_equals_torch_with_padding():
    run_both(cross=True, heads=4)


def test_a_padded_key_changes_nothing_and_gets_no_gradient():
    mha = L.MultiHeadAttention(2, 3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 4, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0]], dtype=np.float32)
    mha.build([(4, 5), (4, 5), (4, 5), (4,)], np.random.default_rng(0), "float32")
    out = mha.forward([x, x, x, mask])
    changed = x.copy()
    changed[0, 3] += 10.0  # the padding key's vector (its own query row changes, no other)
    out2 = mha.forward([changed, changed, changed, mask])
    np.testing.assert_allclose(out[0, :3], out2[0, :3], atol=1e-6)


def test_a_model_with_an_attention_mask_input():
    tokens = L.Input((6, 4))
    mask = L.Input((6,))
    attended = L.MultiHeadAttention(2, 2, name="self_attention")(
        tokens, tokens, attention_mask=mask
    )
    model = Model([tokens, mask], attended)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 4)).astype(np.float32)
    m = np.array([[1, 1, 1, 1, 0, 0], [1] * 6], dtype=np.float32)
    out = model.predict([x, m])
    assert out.shape == (2, 6, 4)
    x2 = x.copy()
    x2[0, 4:] = 99.0  # padding: the first example's real rows must not move
    np.testing.assert_allclose(model.predict([x2, m])[0, :4], out[0, :4], atol=1e-5)


def test_layer_normalization_equals_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6)).astype(np.float64) * 3 + 1
    layer = L.LayerNormalization(epsilon=1e-12)
    layer.build((5, 6), np.random.default_rng(0), "float64")
    layer.params["gamma"][...] = rng.standard_normal(6)
    layer.params["beta"][...] = rng.standard_normal(6)
    out = layer.forward(x)
    da = rng.standard_normal(out.shape)
    dx = layer.backward(da)
    norm = torch.nn.LayerNorm(6, eps=1e-12, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(layer.params["gamma"]))
        norm.bias.copy_(torch.tensor(layer.params["beta"]))
    xt = torch.tensor(x, requires_grad=True)
    (norm(xt) * torch.tensor(da)).sum().backward()
    np.testing.assert_allclose(out, norm(xt).detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(layer.grads["gamma"], norm.weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(layer.grads["beta"], norm.bias.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_equals_torch_in_both_forms(approximate):
    z = np.linspace(-6, 6, 241)
    da = np.cos(z)
    gelu = Gelu(approximate=approximate)
    zt = torch.tensor(z, requires_grad=True)
    out_t = torch.nn.functional.gelu(zt, approximate="tanh" if approximate else "none")
    (out_t * torch.tensor(da)).sum().backward()
    np.testing.assert_allclose(gelu.forward(z), out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(gelu.backward(da, z, None), zt.grad.numpy(), atol=1e-12)
    z32 = z.astype(np.float32)
    assert gelu.forward(z32).dtype == np.float32
    layer = L.Activation({"name": "gelu", "approximate": approximate})
    layer.build((len(z),), None, "float32")
    np.testing.assert_allclose(layer.forward(z32[None]), out_t.detach().numpy()[None], atol=1e-6)


def test_the_courses_positional_encoding_by_hand():
    pe = sinusoidal_encoding(50, 4, np.float64)
    for pos in (0, 1, 7, 49):
        expected = [math.sin(pos), math.cos(pos), math.sin(pos / 100), math.cos(pos / 100)]
        np.testing.assert_allclose(pe[pos], expected, atol=1e-12)


def test_bad_arguments_name_the_argument():
    from nnlab.exceptions import ConfigError, ShapeError

    with pytest.raises(ConfigError, match="num_heads must be an int >= 1, got 0"):
        L.MultiHeadAttention(0, 4)
    mha = L.MultiHeadAttention(1, 2)
    mha.build([(3, 4), (3, 4), (3, 4), (3,)], np.random.default_rng(0), "float32")
    with pytest.raises(ShapeError, match=r"attention_mask must be \(m, Tk\) = \(1, 3\)"):
        mha.forward([np.zeros((1, 3, 4), np.float32)] * 3 + [np.ones((1, 4), np.float32)])
    with pytest.raises(ShapeError, match="max_length is 3"):
        layer = L.PositionalEncoding(3)
        layer.build((5, 2), None, "float32")


def test_padding_mask_of_token_ids():
    layer = L.PaddingMask()
    layer.build((4,), None, "float32")
    ids = np.array([[5, 2, 0, 0], [1, 0, 3, 0]])
    assert layer.forward(ids).tolist() == [[1, 1, 0, 0], [1, 0, 1, 0]]
    assert layer.forward(ids).dtype == np.float32


def test_the_float32_erf_is_within_5e_7_of_scipys():
    from scipy.special import erf

    from nnlab.ops.activations import _normal_cdf

    z = np.linspace(-12, 12, 100_001)  # several chunks
    phi = _normal_cdf(z.astype(np.float32))
    assert phi.dtype == np.float32
    np.testing.assert_allclose(phi, 0.5 * (1 + erf(z / np.sqrt(2))), atol=5e-7, rtol=0)
