"""Neural style transfer (Gatys, Ecker and Bethge 2015), as in Course 4, week 4.

A generated image G is optimized so that a frozen ImageNet VGG16's activations of G match
those of a content image C at one deep layer, and the Gram matrices (correlations between
channels) of those of a style image S at several layers.  With a[l] the activations of
layer l, (1, n_H, n_W, n_C), and A[l] them unrolled to (n_C, n_H n_W) as in the course:

    J_content(C, G) = 1 / (4 n_H n_W n_C)  sum (a_C - a_G)^2              at CONTENT_LAYER
    Gram matrix     G_gram = A A^T                                        (n_C, n_C)
    J_style[l](S, G) = 1 / (4 n_C^2 (n_H n_W)^2)  sum_{i,j} (G_S - G_G)_{ij}^2
    J_style(S, G)   = sum_l lambda[l] J_style[l](S, G)                     STYLE_LAYERS
    J(G)            = alpha J_content + beta J_style (+ tv J_tv)

and their gradients w.r.t. the generated image's activations, written out (the GEMMs are
over the unrolled activations, channels last: a is (n_H n_W, n_C), so G_gram = a^T a):

    dJ_content / da_G = (a_G - a_C) / (2 n_H n_W n_C)                     (1, n_H, n_W, n_C)
    dJ_style[l] / da_G = a_G (G_G - G_S) / (n_C^2 (n_H n_W)^2)            (n_H n_W, n_C)

(from dJ/dG_G = -2 k (G_S - G_G) with k = 1 / (4 n_C^2 (n_H n_W)^2), and dJ/da = a (dJ/dG
+ dJ/dG^T) = 2 a dJ/dG for G = a^T a, dJ/dG symmetric).  The optional total-variation term
smooths the picture (the pixels x, (1, H, W, 3), are the optimized parameters):

    J_tv = (1 / (H W)) sum_{h, w, c} [(x[h+1, w] - x[h, w])^2 + (x[h, w+1] - x[h, w])^2]
    dJ_tv / dx[h, w] = (2 / (H W)) [(x[h, w] - x[h-1, w]) - (x[h+1, w] - x[h, w])
                                    + (x[h, w] - x[h, w-1]) - (x[h, w+1] - x[h, w])]

(the differences that do not exist at the borders are left out).

One optimization step (:meth:`StyleTransfer.step`) is one forward and one backward of a
model with several outputs: the VGG16 conv base up to the deepest layer needed, whose
outputs are the chosen layers' activations (:func:`vgg16_style_model`; every layer frozen,
so backward computes no weight gradient, only dJ/dX of the input image).  Adam then
updates the pixels, which are clipped to the valid range after each step.

Layers.  The course (VGG19) takes its content from block5_conv4, the last convolution of
VGG19's fifth block, which VGG16 does not have (its block 5 is conv1 .. conv3).  nnlab uses
``block5_conv2``: the same depth (the fifth block, 1/16 of the image's size, 512
channels: objects and their layout, not their textures), the middle convolution of the
block as Gatys et al.'s conv4_2 is of theirs, and cheap: it adds one convolution on 1/256
of the pixels to the layers the style needs anyway.  (block4_conv2, Gatys' own choice,
gave the same picture at the course's alpha and beta, 150x200, 100 steps.)  The style
layers are the course's: block1_conv1 .. block5_conv1 (the first convolution of each
block, which VGG16 and VGG19 share), weighted 0.2 each.

Scales.  With caffe-space pixels (0-255) the course's alpha = 10, beta = 40 make beta
J_style about 10^6 times alpha J_content at the start (J_style grows as the 4th power of
the pixels' scale, J_content as the 2nd): the style cost drives the optimization, and the
content survives because the image starts from it and the steps are few, as in the
course's first (TensorFlow 1, caffe-space VGG19) notebook.  Its later version feeds
pixels in [0, 1], which weighs the content 255^2 times more for the same alpha / beta.

The images live in VGG16's "caffe" space (:func:`~nnlab.applications.vgg16.preprocess_caffe`:
BGR, the ImageNet mean subtracted, 0-255 scale): the valid pixels of channel c are
[-mean_c, 255 - mean_c].  The generated image starts as the course's
``generate_noise_image``: ``G0 = noise_ratio N + (1 - noise_ratio) C``, N uniform in
[-20, 20] (on the 0-255 scale; ``noise_scale`` rescales it for images of another range).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from .. import backend
from ..exceptions import ConfigError, InputValueError, ShapeError
from ..layers import Conv2D, Input, MaxPool2D
from ..training.model import Model
from ..training.optimizers import Adam
from .vgg16 import CAFFE_MEAN_BGR, VGG16_BLOCKS, load_vgg16_weights

#: The course's style layers and their weights lambda[l] (the first conv of each block).
STYLE_LAYERS = (
    ("block1_conv1", 0.2),
    ("block2_conv1", 0.2),
    ("block3_conv1", 0.2),
    ("block4_conv1", 0.2),
    ("block5_conv1", 0.2),
)
#: The content layer: VGG16's stand-in for the course's VGG19 block5_conv4 (module docstring).
CONTENT_LAYER = "block5_conv2"
#: The course's weights of the content and style costs.
ALPHA, BETA = 10.0, 40.0
#: The course's noise_ratio of generate_noise_image and the noise's half-width (0-255 scale).
NOISE_RATIO, NOISE_HALF_WIDTH = 0.6, 20.0
#: What ``StyleTransfer.history`` records per step.
HISTORY_KEYS = ("J", "J_content", "J_style", "J_tv", "seconds")
#: The valid pixels of each channel of a caffe-preprocessed (BGR, mean subtracted) image.
CAFFE_LOW = -CAFFE_MEAN_BGR
CAFFE_HIGH = 255.0 - CAFFE_MEAN_BGR


# --------------------------------------------------------------------------- costs


def _as_activations(a, who: str):
    """``a`` as an array (m, n_H, n_W, n_C); one (n_H, n_W, n_C) becomes a batch of 1."""
    a = backend.xp.asarray(a)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ShapeError(f"{who}: expected activations (m, n_H, n_W, n_C), got shape {a.shape}")
    return a


def _check_same(a, b, who: str) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{who}: a_C / a_S and a_G differ in shape: {a.shape} and {b.shape}")


def content_cost_and_grad(a_C, a_G):
    """J_content and dJ_content/da_G at one layer.

    Args:
        a_C: the content image's activations, (m, n_H, n_W, n_C) (m = 1 in the course) or
            (n_H, n_W, n_C).
        a_G: the generated image's activations, the same shape.

    Returns:
        (J, dJ/da_G): the float ``1 / (4 n_H n_W n_C) sum (a_C - a_G)^2`` (summed over the
        m images) and ``(a_G - a_C) / (2 n_H n_W n_C)``, of a_G's shape and dtype.
    """
    a_C, a_G = _as_activations(a_C, "content_cost"), _as_activations(a_G, "content_cost")
    _check_same(a_C, a_G, "content_cost")
    _, n_H, n_W, n_C = a_G.shape
    diff = a_G - a_C  # (m, n_H, n_W, n_C)
    flat = diff.reshape(-1)
    cost = float(backend.xp.dot(flat, flat)) / (4.0 * n_H * n_W * n_C)
    diff *= 1.0 / (2.0 * n_H * n_W * n_C)
    return cost, diff


def compute_content_cost(a_C, a_G) -> float:
    """The course's ``compute_content_cost``: 1 / (4 n_H n_W n_C) sum (a_C - a_G)^2."""
    return content_cost_and_grad(a_C, a_G)[0]


def gram_matrix(A):
    """The course's ``gram_matrix``: G = A A^T for A of shape (n_C, n_H n_W): (n_C, n_C).

    G[i, j] is the dot product of the (unrolled) activations of filters i and j: how much
    they fire together.  For channels-last activations use :func:`gram_matrices`.
    """
    A = backend.xp.asarray(A)
    if A.ndim != 2:
        raise ShapeError(f"gram_matrix: expected A of shape (n_C, n_H * n_W), got {A.shape}")
    return A @ A.T


def gram_matrices(a):
    """The Gram matrix of each image's activations: a (m, n_H, n_W, n_C) -> (m, n_C, n_C).

    With a unrolled to (m, n_H n_W, n_C) (a view: channels are last), G = a^T a, which is
    the course's A A^T with A = a^T (n_C, n_H n_W).
    """
    a = _as_activations(a, "gram_matrices")
    m, n_H, n_W, n_C = a.shape
    flat = a.reshape(m, n_H * n_W, n_C)  # (m, n_H n_W, n_C)
    return flat.transpose(0, 2, 1) @ flat  # (m, n_C, n_C)


def layer_style_cost_and_grad(gram_S, a_G, scale: float = 1.0, out=None):
    """J_style[l] and dJ_style[l]/da_G from the style image's Gram matrices.

    Args:
        gram_S: the style image's Gram matrices at this layer, (m, n_C, n_C) (from
            :func:`gram_matrices`; m = 1, or one per generated image) or (n_C, n_C).
        a_G: the generated image's activations, (m, n_H, n_W, n_C).
        scale: the gradient comes multiplied by it (a weight such as beta lambda[l],
            folded into the small (n_C, n_C) factor rather than applied to the result).
        out: an array of a_G's shape and dtype to write the gradient into (reused from
            step to step, it saves allocating and faulting in a new one), or None.

    Returns:
        (J, dJ/da_G): the float ``1 / (4 n_C^2 (n_H n_W)^2) sum (G_S - G_G)^2`` (summed
        over the m images) and ``scale a_G (G_G - G_S) / (n_C^2 (n_H n_W)^2)``, of a_G's
        shape (``out`` when given).
    """
    xp = backend.xp
    a_G = _as_activations(a_G, "layer_style_cost")
    m, n_H, n_W, n_C = a_G.shape
    gram_S = xp.asarray(gram_S)
    if gram_S.shape[-2:] != (n_C, n_C):
        raise ShapeError(
            f"layer_style_cost: the style Gram matrices are {gram_S.shape}, the generated "
            f"activations have {n_C} channels"
        )
    flat = a_G.reshape(m, n_H * n_W, n_C)  # (m, n_H n_W, n_C)
    if m == 1:  # a 2-D product: BLAS's syrk computes the symmetric a^T a in half the time
        diff = (flat[0].T @ flat[0])[None]  # G_G (1, n_C, n_C)
    else:
        diff = flat.transpose(0, 2, 1) @ flat  # G_G (m, n_C, n_C)
    diff -= gram_S  # G_G - G_S
    M = float(n_H * n_W)
    cost = float(xp.vdot(diff, diff)) / (4.0 * n_C * n_C * M * M)
    diff *= scale / (n_C * n_C * M * M)
    grad = None if out is None else out.reshape(m, n_H * n_W, n_C)
    grad = xp.matmul(flat, diff, out=grad)  # (m, n_H n_W, n_C); diff is symmetric
    return cost, grad.reshape(a_G.shape)


def compute_layer_style_cost(a_S, a_G) -> float:
    """The course's ``compute_layer_style_cost``: 1 / (4 n_C^2 (n_H n_W)^2) sum (G_S - G_G)^2."""
    a_S, a_G = _as_activations(a_S, "layer_style_cost"), _as_activations(a_G, "layer_style_cost")
    _check_same(a_S, a_G, "layer_style_cost")
    return layer_style_cost_and_grad(gram_matrices(a_S), a_G)[0]


def compute_style_cost(style_activations: dict, generated_activations: dict, style_layers=None):
    """The course's ``compute_style_cost``: sum_l lambda[l] J_style[l].

    Args:
        style_activations, generated_activations: layer name -> activations (m, n_H, n_W, n_C).
        style_layers: (name, lambda) pairs (default :data:`STYLE_LAYERS`).
    """
    layers = STYLE_LAYERS if style_layers is None else style_layers
    return sum(
        weight * compute_layer_style_cost(style_activations[name], generated_activations[name])
        for name, weight in layers
    )


def total_cost(J_content, J_style, alpha=ALPHA, beta=BETA):
    """The course's ``total_cost``: alpha J_content + beta J_style."""
    return alpha * J_content + beta * J_style


def total_variation_and_grad(x):
    """J_tv and dJ_tv/dx for images x (m, H, W, C) (module docstring).

    Returns:
        (J, dJ/dx): J = (1 / (H W)) sum of squared differences of vertical and horizontal
        neighbours (summed over channels and images); the gradient of x's shape.
    """
    xp = backend.xp
    x = _as_activations(x, "total_variation")
    _, H, W, _ = x.shape
    scale = 1.0 / (H * W)
    dh = x[:, 1:] - x[:, :-1]  # (m, H-1, W, C)
    dw = x[:, :, 1:] - x[:, :, :-1]  # (m, H, W-1, C)
    cost = (float(xp.vdot(dh, dh)) + float(xp.vdot(dw, dw))) * scale
    grad = xp.zeros_like(x)
    dh *= 2.0 * scale
    dw *= 2.0 * scale
    grad[:, 1:] += dh
    grad[:, :-1] -= dh
    grad[:, :, 1:] += dw
    grad[:, :, :-1] -= dw
    return cost, grad


def generate_noise_image(
    content, noise_ratio=NOISE_RATIO, rng=None, noise_scale=1.0, low=None, high=None
):
    """The course's ``generate_noise_image``: ``noise_ratio N + (1 - noise_ratio) content``.

    Args:
        content: the content image (m, H, W, C) or (H, W, C), preprocessed (caffe space).
        noise_ratio: the weight of the noise, in [0, 1] (the course: 0.6).
        rng: a NumPy Generator, or a seed.
        noise_scale: N is uniform in [-20, 20] x noise_scale (1 for the 0-255 scale of the
            caffe space, 1/255 for images in [0, 1]).
        low, high: clip the result to [low, high] (broadcast over the channels); None:
            no clipping.

    Returns:
        A new array of content's shape and float dtype.
    """
    if not 0.0 <= noise_ratio <= 1.0:
        raise ConfigError(f"generate_noise_image: noise_ratio must be in [0, 1], got {noise_ratio}")
    content = np.asarray(backend.to_numpy(content))
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    dtype = content.dtype if content.dtype.kind == "f" else np.dtype(backend.floatx())
    half = NOISE_HALF_WIDTH * noise_scale
    noise = rng.uniform(-half, half, content.shape)
    image = (noise_ratio * noise + (1.0 - noise_ratio) * content).astype(dtype)
    if low is not None or high is not None:
        np.clip(image, low, high, out=image)
    return image


# --------------------------------------------------------------------------- models


def feature_model(layers: Sequence, input_shape, outputs: Sequence[str], dtype=None, name=None):
    """A built Model running ``layers`` in a chain whose outputs are the named layers'.

    Only the layers up to the deepest named one are used.  The outputs are a dict keyed by
    layer name (``model.output_names``), in the order of ``outputs`` (duplicates dropped).
    Every layer is frozen (``trainable = False``): its backward computes no weight gradient.

    Args:
        layers: fresh (unbuilt) layers with distinct names, in order.
        input_shape: (H, W, C) of the images.
        outputs: layer names whose activations the model returns.
        dtype: the model's dtype (default floatx).
        name: the model's name.
    """
    names = [layer.name for layer in layers]
    wanted = list(dict.fromkeys(outputs))
    unknown = [n for n in wanted if n not in names]
    if unknown or not wanted:
        raise ConfigError(
            f"feature_model: unknown layer {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"the layers are {', '.join(names)}"
        )
    last = max(names.index(n) for n in wanted)
    inputs = Input(tuple(int(d) for d in input_shape))
    nodes, x = {}, inputs
    for layer in layers[: last + 1]:
        layer.trainable = False
        x = layer(x)
        nodes[layer.name] = x
    model = Model(inputs, {n: nodes[n] for n in wanted}, dtype=dtype, name=name or "features")
    model.build()
    return model


def vgg16_layers():
    """Fresh VGG16 conv-base layers with Keras' names (block1_conv1 .. block5_pool)."""
    layers = []
    for b, filters in enumerate(VGG16_BLOCKS, start=1):
        for c, n in enumerate(filters, start=1):
            layers.append(Conv2D(n, 3, padding="same", activation="relu", name=f"block{b}_conv{c}"))
        layers.append(MaxPool2D(2, name=f"block{b}_pool"))
    return layers


def vgg16_style_model(
    input_shape,
    content_layer: str = CONTENT_LAYER,
    style_layers=STYLE_LAYERS,
    weights="imagenet",
    dtype=None,
):
    """VGG16's conv base up to the deepest layer needed, frozen, with several outputs:
    the style layers' and the content layer's activations (a dict by layer name).

    Args:
        input_shape: (H, W, 3) of the (caffe-preprocessed) images.
        content_layer, style_layers: as :class:`StyleTransfer`'s.
        weights: "imagenet" (``load_vgg16_weights``), a weights file path, or None
            (random: for tests).
        dtype: the model's dtype (default floatx).
    """
    outputs = [name for name, _ in style_layers] + [content_layer]
    model = feature_model(vgg16_layers(), input_shape, outputs, dtype=dtype, name="vgg16_style")
    if weights is not None:
        load_vgg16_weights(model, source=None if weights == "imagenet" else weights)
    return model


# --------------------------------------------------------------------------- optimization


class StyleTransfer:
    """Optimizes a generated image with Adam so that its costs against a content and a
    style image fall (the module docstring gives the costs).

    Args:
        model: a Model whose outputs (``model.output_names``) include ``content_layer`` and
            every style layer (e.g. :func:`vgg16_style_model`, or :func:`feature_model` of
            any conv stack), frozen.
        content, style: the content and style images, preprocessed as the model expects,
            (H, W, C) or (1, H, W, C), of the model's input size.
        content_layer: the name of the content layer.
        style_layers: (name, lambda) pairs (default the course's :data:`STYLE_LAYERS`).
        alpha, beta: the weights of J_content and J_style (the course: 10 and 40).
        tv_weight: the weight of the total-variation term (0: none, as the course).
        learning_rate: Adam's step size (pixels of the 0-255 scale for caffe images).
        noise_ratio: see :func:`generate_noise_image`.
        noise_scale: the noise's half-width is 20 x noise_scale.
        low, high: the valid pixel range, per channel or one number (default the caffe
            space's :data:`CAFFE_LOW`, :data:`CAFFE_HIGH`); None for no clipping.
        seed: for the noise.
        initial: a starting image instead of the noisy content.

    Attributes:
        generated: the image being optimized, (1, H, W, C), updated in place.
        history: per step, "J", "J_content", "J_style" and "J_tv" (the costs of the image
            before that step's update) and "seconds" since the first step.
    """

    def __init__(
        self,
        model,
        content,
        style,
        content_layer: str = CONTENT_LAYER,
        style_layers=STYLE_LAYERS,
        alpha: float = ALPHA,
        beta: float = BETA,
        tv_weight: float = 0.0,
        learning_rate: float = 2.0,
        noise_ratio: float = NOISE_RATIO,
        noise_scale: float = 1.0,
        low=CAFFE_LOW,
        high=CAFFE_HIGH,
        seed=0,
        initial=None,
    ):
        self.model = model
        self.content_layer = content_layer
        self.style_layers = tuple((str(n), float(w)) for n, w in style_layers)
        needed = [content_layer, *(name for name, _ in self.style_layers)]
        missing = [name for name in needed if name not in model.output_names]
        if missing:
            raise ConfigError(
                f"StyleTransfer: {model.name!r} has no output {', '.join(map(repr, missing))}; "
                f"its outputs are {', '.join(model.output_names)}"
            )
        for label, value in (("alpha", alpha), ("beta", beta), ("tv_weight", tv_weight)):
            if not value >= 0:
                raise ConfigError(f"StyleTransfer: {label} must be >= 0, got {value}")
        self.alpha, self.beta, self.tv_weight = float(alpha), float(beta), float(tv_weight)
        dtype = model.dtype
        self.low = None if low is None else np.asarray(low, dtype=dtype)
        self.high = None if high is None else np.asarray(high, dtype=dtype)
        content, style = self._image(content, "content"), self._image(style, "style")
        outputs = self._outputs(content)
        self.a_C = outputs[content_layer].copy()
        outputs = self._outputs(style)
        self.gram_S = {name: gram_matrices(outputs[name]) for name, _ in self.style_layers}
        if initial is None:
            start = generate_noise_image(
                content, noise_ratio, seed, noise_scale=noise_scale, low=self.low, high=self.high
            )
        else:
            start = self._image(initial, "initial")
        self.generated = backend.xp.asarray(np.ascontiguousarray(start, dtype=dtype))
        self.optimizer = Adam(learning_rate)
        self.optimizer.build(self.generated.reshape(-1))
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self._started = None
        self._buffers: dict = {}

    def _image(self, image, who: str):
        image = np.asarray(backend.to_numpy(image))
        image = image[None] if image.ndim == 3 else image
        expected = tuple(self.model.input_shape)
        if image.ndim != 4 or image.shape[0] != 1 or tuple(image.shape[1:]) != expected:
            raise ShapeError(
                f"StyleTransfer: the {who} image must be {expected} (or (1, ...)), got "
                f"{image.shape}; resize it to the model's input size"
            )
        if not np.all(np.isfinite(image)):
            raise InputValueError(f"StyleTransfer: the {who} image has NaN or inf pixels")
        return backend.xp.asarray(image.astype(self.model.dtype))

    def _outputs(self, x) -> dict:
        """The model's outputs for x, by name (an inference forward)."""
        values = self.model.forward(x, training=False)
        values = values if isinstance(values, list) else [values]
        return dict(zip(self.model.output_names, values, strict=True))

    def _costs(self, acts: dict, x):
        """The costs of image x whose model outputs are ``acts``, and dJ/d(output) of each
        (written into buffers kept from step to step; backward consumes them at once)."""
        grads: dict = {}
        J_style = 0.0
        for name, weight in self.style_layers:
            a_G = acts[name]
            out = self._buffer(name, a_G) if name not in grads else None
            cost, grad = layer_style_cost_and_grad(
                self.gram_S[name], a_G, scale=self.beta * weight, out=out
            )
            J_style += weight * cost
            grads[name] = grad if name not in grads else grads[name] + grad
        J_content, grad = content_cost_and_grad(self.a_C, acts[self.content_layer])
        grad *= self.alpha
        name = self.content_layer
        grads[name] = grad if name not in grads else grads[name] + grad
        J_tv = total_variation_and_grad(x)[0] if self.tv_weight else 0.0
        J = self.alpha * J_content + self.beta * J_style + self.tv_weight * J_tv
        costs = {"J": J, "J_content": J_content, "J_style": J_style, "J_tv": J_tv}
        return costs, [grads.get(n) for n in self.model.output_names]

    def _buffer(self, name: str, like):
        """The gradient buffer of output ``name``, shaped like ``like``."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self._buffers[name] = backend.xp.empty_like(like)
        return buffer

    def costs_and_gradient(self, x):
        """The costs of image x (1, H, W, C) and dJ/dx: one forward, one backward.

        Returns:
            (costs, dJ/dx): costs = {"J", "J_content", "J_style", "J_tv"} (floats;
            J = alpha J_content + beta J_style + tv_weight J_tv); dJ/dx of x's shape.
        """
        values = self.model.forward(x, training=True)
        values = values if isinstance(values, list) else [values]
        costs, output_grads = self._costs(
            dict(zip(self.model.output_names, values, strict=True)), x
        )
        dx = self.model.backward(output_grads, input_grads=True)
        if self.tv_weight:
            dx += self.tv_weight * total_variation_and_grad(x)[1]
        return costs, dx

    def step(self) -> dict:
        """One Adam step on the pixels (then clipped); the costs before it."""
        if self._started is None:
            self._started = time.perf_counter()
        costs, dx = self.costs_and_gradient(self.generated)
        self.optimizer.step(self.generated.reshape(-1), dx.reshape(-1))
        if self.low is not None or self.high is not None:
            backend.xp.clip(self.generated, self.low, self.high, out=self.generated)
        for key, value in costs.items():
            self.history[key].append(value)
        self.history["seconds"].append(time.perf_counter() - self._started)
        return costs

    def run(self, steps: int, callback: Callable | None = None):
        """``steps`` steps; ``callback(step, costs)`` after each (step counts from 1).
        Returns the generated image."""
        for step in range(1, int(steps) + 1):
            costs = self.step()
            if callback is not None:
                callback(step, costs)
        return self.generated

    def costs(self, x=None) -> dict:
        """The costs of image x (default: the current generated image); a forward only."""
        x = self.generated if x is None else self._image(x, "x")
        return self._costs(self._outputs(x), x)[0]
