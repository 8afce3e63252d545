"""The course's encoder and decoder layers against nn.TransformerEncoderLayer and
nn.TransformerDecoderLayer (post-norm, weights copied, padding and look-ahead masks):
outputs, input gradients and every weight's gradient."""

import numpy as np
import pytest
from test_attention import copy_into_torch

from nnlab import layers as L
from nnlab.layers.transformer import DecoderLayer, EncoderLayer
from nnlab.training.model import Model

torch = pytest.importorskip("torch")
D, HEADS, D_FF, EPS = 8, 2, 12, 1e-5


def randomize(model, rng):
    """Random biases and LayerNorm weights too, so that every copy is checked."""
    for layer in model.layers:
        for value in layer.params.values():
            value[...] = rng.standard_normal(value.shape) * 0.5


def copy_block(block, module, attentions):
    """nnlab's block weights into the PyTorch layer (attention pairs, FFN, norms)."""
    for ours, theirs in attentions:
        copy_into_torch(ours, theirs)
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    with torch.no_grad():
        for dense, linear in (
            (block.ffn_hidden, module.linear1),
            (block.ffn_output, module.linear2),
        ):
            linear.weight.copy_(t(dense.params["W"]).T)
            linear.bias.copy_(t(dense.params["b"]))
        for k, norm in enumerate(block.norms):
            theirs = getattr(module, f"norm{k + 1}")
            theirs.weight.copy_(t(norm.params["gamma"]))
            theirs.bias.copy_(t(norm.params["beta"]))


def attention_grads(mha):
    """nnlab's attention gradients in nn.MultiheadAttention's layout."""
    e = D
    w = np.concatenate(
        [mha.grads[f"{n}_kernel"].reshape(e, e).T for n in ("query", "key", "value")]
    )
    b = np.concatenate([mha.grads[f"{n}_bias"].reshape(e) for n in ("query", "key", "value")])
    return {"in_proj_weight": w, "in_proj_bias": b, "out_proj.weight": mha.grads["output_kernel"].reshape(e, e).T, "out_proj.bias": mha.grads["output_bias"]}  # fmt: skip


def check_weights(block, module, attentions):
    for ours, prefix in attentions:
        for key, grad in attention_grads(ours).items():
            expected = module.get_parameter(f"{prefix}.{key}").grad.numpy()
            np.testing.assert_allclose(grad, expected, atol=1e-9, err_msg=f"{prefix}.{key}")
    for dense, linear in ((block.ffn_hidden, "linear1"), (block.ffn_output, "linear2")):
        np.testing.assert_allclose(dense.grads["W"].T, module.get_parameter(f"{linear}.weight").grad.numpy(), atol=1e-9)  # fmt: skip
        np.testing.assert_allclose(dense.grads["b"], module.get_parameter(f"{linear}.bias").grad.numpy(), atol=1e-9)  # fmt: skip
    for k, norm in enumerate(block.norms):
        np.testing.assert_allclose(norm.grads["gamma"], module.get_parameter(f"norm{k + 1}.weight").grad.numpy(), atol=1e-9)  # fmt: skip
        np.testing.assert_allclose(norm.grads["beta"], module.get_parameter(f"norm{k + 1}.bias").grad.numpy(), atol=1e-9)  # fmt: skip


def padding_mask(rng, m, t):
    lengths = rng.integers(2, t + 1, m)
    lengths[0] = t
    return (np.arange(t)[None, :] < lengths[:, None]).astype(np.float64)


def test_encoder_layer_equals_torch():
    rng = np.random.default_rng(0)
    m, t = 3, 5
    x_in, mask_in = L.Input((t, D)), L.Input((t,))
    block = EncoderLayer(D, HEADS, D_FF, dropout=0.0, epsilon=EPS)
    model = Model([x_in, mask_in], block(x_in, mask_in), dtype="float64", seed=0)
    model.build()
    randomize(model, rng)
    x, mask = rng.standard_normal((m, t, D)), padding_mask(rng, m, t)
    out = model.forward([x, mask])
    da = rng.standard_normal(out.shape)
    dx = model.backward(da, input_grads=True)[0]

    module = torch.nn.TransformerEncoderLayer(D, HEADS, D_FF, dropout=0.0, batch_first=True, layer_norm_eps=EPS, dtype=torch.float64)  # fmt: skip
    copy_block(block, module, [(block.self_attention, module.self_attn)])
    xt = torch.tensor(x, requires_grad=True)
    out_t = module(xt, src_key_padding_mask=torch.tensor(mask == 0))
    (out_t * torch.tensor(da)).sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-9)
    check_weights(block, module, [(block.self_attention, "self_attn")])


def test_decoder_layer_equals_torch():
    rng = np.random.default_rng(1)
    m, ty, tx = 3, 4, 6
    y_in, enc_in = L.Input((ty, D)), L.Input((tx, D))
    y_mask_in, x_mask_in = L.Input((ty,)), L.Input((tx,))
    block = DecoderLayer(D, HEADS, D_FF, dropout=0.0, epsilon=EPS)
    out_node = block(y_in, enc_in, target_mask=y_mask_in, memory_mask=x_mask_in)
    model = Model([y_in, enc_in, y_mask_in, x_mask_in], out_node, dtype="float64", seed=0)
    model.build()
    randomize(model, rng)
    y, enc = rng.standard_normal((m, ty, D)), rng.standard_normal((m, tx, D))
    y_mask, x_mask = padding_mask(rng, m, ty), padding_mask(rng, m, tx)
    out = model.forward([y, enc, y_mask, x_mask])
    da = rng.standard_normal(out.shape)
    dy, denc = model.backward(da, input_grads=True)[:2]

    module = torch.nn.TransformerDecoderLayer(D, HEADS, D_FF, dropout=0.0, batch_first=True, layer_norm_eps=EPS, dtype=torch.float64)  # fmt: skip
    attentions = [(block.self_attention, module.self_attn), (block.cross_attention, module.multihead_attn)]  # fmt: skip
    copy_block(block, module, attentions)
    yt, enct = torch.tensor(y, requires_grad=True), torch.tensor(enc, requires_grad=True)
    look_ahead = torch.ones(ty, ty, dtype=torch.bool).triu(1)
    out_t = module(
        yt, enct, tgt_mask=look_ahead,
        tgt_key_padding_mask=torch.tensor(y_mask == 0),
        memory_key_padding_mask=torch.tensor(x_mask == 0),
    )  # fmt: skip
    (out_t * torch.tensor(da)).sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(dy, yt.grad.numpy(), atol=1e-9)
    np.testing.assert_allclose(denc, enct.grad.numpy(), atol=1e-9)
    check_weights(block, module, [(block.self_attention, "self_attn"), (block.cross_attention, "multihead_attn")])  # fmt: skip


def test_a_block_called_twice_shares_its_weights():
    x_in = L.Input((3, D))
    block = EncoderLayer(D, HEADS, D_FF)
    model = Model(x_in, block(block(x_in)))
    assert model.count_params() == Model(x_in, block(x_in)).count_params()


def test_berts_attention_output_dropout():
    """attention_output_dropout=True drops the attention output before its residual (BERT's
    BertSelfOutput): a Dropout layer more, the same outputs at inference, and in training
    the only dropout left when the attention weights' and the FFN's are off."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, D))
    blocks = [EncoderLayer(D, HEADS, D_FF, dropout=0.5, attention_output_dropout=flag, name=f"b{flag}") for flag in (False, True)]  # fmt: skip
    models = []
    for block in blocks:
        x_in = L.Input((5, D))
        models.append(Model(x_in, block(x_in), seed=0, dtype="float64"))
    plain, bert = models
    plain.build()
    bert.build()
    assert len(bert.layers) == len(plain.layers) + 1 and blocks[0].attention_dropout is None
    bert.set_weights({k.replace("bFalse", "bTrue"): v for k, v in plain.get_weights().items()})
    np.testing.assert_allclose(bert.predict(x), plain.predict(x), atol=1e-12)
    blocks[1].self_attention.dropout, blocks[1].ffn_dropout.rate = 0.0, 0.0
    trained = bert.forward(x, training=True)
    mask = blocks[1].attention_dropout.cache.mask
    assert mask.shape == (2, 5, D) and 0.2 < (mask == 0).mean() < 0.8
    assert set(np.unique(mask)) == {0.0, 2.0}
    assert not np.allclose(trained, bert.predict(x))
