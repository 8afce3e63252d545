"""Face verification and recognition (Course 4, week 4): FaceNet's triplet loss, a siamese
encoder trained with it, online semi-hard triplet mining, and the course's ``verify`` and
``who_is_it`` (here :func:`identify`).

An encoder f maps an image x to an embedding f(x) of d numbers on the unit sphere
(``L2Normalize`` last).  Two images show the same identity when their embeddings are close:

    distance(x1, x2) = ||f(x1) - f(x2)||          (Euclidean, as the course's np.linalg.norm)
    verify:   same = distance < threshold          (the course: 0.7 on FaceNet's encodings)
    identify: the identity of the database with the smallest distance, or None ("not in the
              database") when even that one is >= threshold

The triplet loss (Schroff et al. 2015; the course's ``triplet_loss``).  For m triplets of
embeddings (anchor A, positive P of the anchor's identity, negative N of another), rows
(m, d), with squared distances as the course writes them:

    pos_i = ||A_i - P_i||^2,   neg_i = ||A_i - N_i||^2,   l_i = pos_i - neg_i + alpha
    J = sum_i max(l_i, 0)                                  (the course sums over the batch)

    dJ/dA_i = 2 [l_i > 0] (N_i - P_i)
    dJ/dP_i = 2 [l_i > 0] (P_i - A_i)                      (each (m, d))
    dJ/dN_i = 2 [l_i > 0] (A_i - N_i)

An inactive triplet (l_i <= 0: the negative is already alpha farther than the positive)
contributes nothing, its gradients are 0.  :class:`TripletLoss` divides by the number of
triplets (``reduction="mean"``) so that the learning rate does not depend on the batch.

The siamese network: one encoder, three calls.  :func:`siamese_model` is the course's
picture, a ``Model`` over three inputs (anchor, positive, negative) that calls the
encoder's layers (the same objects, so the same weights) on each and returns the three
embeddings; the engine gives every call its own cache and its backward adds each call's
dW into the layer's one gradient buffer, so one backward of the three outputs' gradients
leaves dW = dW(anchor call) + dW(positive call) + dW(negative call) (:func:`siamese_step`).

Training with online mining takes the cheaper equivalent (:func:`triplet_step`): one
forward of the encoder over a batch of P identities x K images, E = f(X) (m, d); the
triplets are index triples (a, p, n) into the batch, their embeddings gathered rows
A = E[a], P = E[p], N = E[n]; and dJ/dE scatters the three gradients back:

    dE = S_a^T dA + S_p^T dP + S_n^T dN         (S_r (T, m) one-hot rows of role r)

then one backward of dE.  Gathering is linear, so this is exactly the three calls' summed
gradient (an image that is anchor in one triplet and negative in another gets both),
with m forwards instead of 3 T (T is up to P K (K - 1)); a test checks it equals the
siamese model's gradients.

Online semi-hard mining (FaceNet, section 3.2; :func:`mine_triplets`).  Within the batch,
for every anchor-positive pair (a, p) (same identity, a != p), with D the squared
distances:

    semi-hard:  D[a, p] < D[a, n] < D[a, p] + alpha     (a loss > 0, but the negative is
                                                         farther than the positive)

The negative taken is the hardest negative farther than the positive, argmin of D[a, n]
over D[a, n] > D[a, p]: the hardest semi-hard one when there is one; otherwise every
farther negative is beyond the margin and the triplet costs 0.  When no negative is
farther than the positive (early in training, all are "hard"), the farthest negative is
taken, the least hard of them (as TensorFlow Addons' ``triplet_semihard_loss``).  The
hardest negatives (argmin of D[a, n] over all n, ``strategy="hard"``) make FaceNet's
training collapse early (f(x) = constant); semi-hard ones do not.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .. import backend
from ..exceptions import ConfigError, InputValueError, ShapeError
from ..layers import Conv2D, Dense, Flatten, Input, L2Normalize, MaxPool2D
from ..models.graph import pick
from ..training.losses import Loss
from ..training.model import Model, Sequential

MINING_STRATEGIES = ("semi-hard", "hard")


# ------------------------------------------------------------------- triplet loss
def triplet_loss(anchor, positive, negative, alpha=0.2) -> float:
    """The course's triplet loss J = sum_i max(||A_i - P_i||^2 - ||A_i - N_i||^2 + alpha, 0).

    Args:
        anchor, positive, negative: embeddings (m, d) (or one triplet, (d,)).
        alpha: the margin, on squared distances.

    Returns:
        J, a float (the sum over the m triplets).
    """
    a, p, n = _triplet_arrays(anchor, positive, negative)
    return float(_hinge(a, p, n, alpha).sum())


def triplet_loss_grad(anchor, positive, negative, alpha=0.2):
    """The gradients of :func:`triplet_loss` (its sum over the batch) w.r.t. its inputs:

        dJ/dA_i = 2 [l_i > 0] (N_i - P_i),  dJ/dP_i = 2 [l_i > 0] (P_i - A_i),
        dJ/dN_i = 2 [l_i > 0] (A_i - N_i),    l_i = ||A_i - P_i||^2 - ||A_i - N_i||^2 + alpha

    Args:
        anchor, positive, negative: embeddings (m, d) (or (d,)).
        alpha: the margin.

    Returns:
        (d_anchor, d_positive, d_negative), each of the inputs' shape; zero rows for the
        inactive triplets (l_i <= 0).
    """
    a, p, n = _triplet_arrays(anchor, positive, negative)
    active = (_hinge(a, p, n, alpha) > 0)[..., None]  # (m, 1)
    two = (2.0 * active).astype(a.dtype)  # float32 embeddings keep float32 gradients
    return two * (n - p), two * (p - a), two * (a - n)


def _hinge(a, p, n, alpha):
    """max(l_i, 0) of each triplet, (m,)."""
    xp = backend.xp
    ap, an = a - p, a - n  # (m, d)
    pos = xp.einsum("...i,...i->...", ap, ap)  # (m,) ||A - P||^2
    neg = xp.einsum("...i,...i->...", an, an)  # (m,) ||A - N||^2
    return xp.maximum(pos - neg + alpha, 0.0)


def _triplet_arrays(anchor, positive, negative):
    xp = backend.xp
    arrays = [xp.asarray(x) for x in (anchor, positive, negative)]
    arrays = [x if x.dtype.kind == "f" else x.astype(backend.floatx()) for x in arrays]
    shapes = [tuple(x.shape) for x in arrays]
    if len(set(shapes)) != 1 or len(shapes[0]) not in (1, 2) or shapes[0][-1] == 0:
        raise ShapeError(
            "triplet_loss: anchor, positive and negative must be embeddings of one shape, "
            f"(m, d) or (d,), got {shapes[0]}, {shapes[1]}, {shapes[2]}"
        )
    return arrays


# ------------------------------------------------------------------------ mining
def pairwise_squared_distances(embeddings):
    """D[i, j] = ||e_i - e_j||^2 for embeddings (m, d): (m, m), >= 0, zero diagonal
    (||e_i||^2 + ||e_j||^2 - 2 e_i . e_j, one GEMM)."""
    xp = backend.xp
    e = xp.asarray(embeddings)
    sq = xp.einsum("ij,ij->i", e, e)  # (m,)
    d = sq[:, None] + sq[None, :] - 2.0 * (e @ e.T)  # (m, m)
    xp.maximum(d, 0.0, out=d)  # rounding can leave -1e-16
    d[xp.arange(d.shape[0]), xp.arange(d.shape[0])] = 0.0
    return d


def mine_triplets(embeddings, labels, alpha=0.2, strategy="semi-hard"):
    """Online triplet mining in a batch (see the module docstring): every anchor-positive
    pair of the batch with one negative chosen for it.  Vectorized: one (m, m) distance
    matrix and masks, no loop over examples.

    Args:
        embeddings: (m, d) embeddings of the batch (no gradient flows through the choice).
        labels: (m,) identity of each example (any integers).
        alpha: the margin of the semi-hard window D[a, p] < D[a, n] < D[a, p] + alpha.
        strategy: "semi-hard" (the hardest negative farther than the positive, else the
            farthest negative) or "hard" (the closest negative).

    Returns:
        (anchors, positives, negatives): int64 index arrays (T,) into the batch, one entry
        per ordered pair (a, p) of one identity, a != p, whose anchor has a negative in the
        batch (T = sum over identities of K (K - 1) for K images each).
    """
    if strategy not in MINING_STRATEGIES:
        raise ConfigError(
            f"mine_triplets: strategy must be one of {MINING_STRATEGIES}, got {strategy!r}"
        )
    xp = backend.xp
    e = xp.asarray(embeddings)
    labels = _labels(labels, e, "mine_triplets")
    m = e.shape[0]
    d = pairwise_squared_distances(e)  # (m, m)
    same = labels[:, None] == labels[None, :]  # (m, m)
    positive_pairs = same & ~xp.eye(m, dtype=bool)
    has_negative = ~same.all(axis=1)  # (m,)
    anchors, positives = xp.nonzero(positive_pairs & has_negative[:, None])  # (T,), (T,)
    d_an = d[anchors]  # (T, m): the anchor's distance to every example
    negative = ~same[anchors]  # (T, m)
    if strategy == "hard":
        chosen = xp.where(negative, d_an, xp.inf).argmin(axis=1)
    else:
        d_ap = d[anchors, positives][:, None]  # (T, 1)
        farther = negative & (d_an > d_ap)  # (T, m)
        nearest_farther = xp.where(farther, d_an, xp.inf).argmin(axis=1)
        farthest = xp.where(negative, d_an, -xp.inf).argmax(axis=1)
        chosen = xp.where(farther.any(axis=1), nearest_farther, farthest)
    return anchors.astype(xp.int64), positives.astype(xp.int64), chosen.astype(xp.int64)


def _labels(labels, embeddings, who):
    """Identities (m,) as integers, checked against embeddings (m, d)."""
    if embeddings.ndim != 2:
        raise ShapeError(f"{who}: embeddings must be (m, d), got {tuple(embeddings.shape)}")
    return _identities(labels, embeddings.shape[0], who)


def _identities(labels, m, who):
    """Integer identities of shape (m,) (m None: any length >= 1)."""
    xp = backend.xp
    labels = xp.asarray(labels)
    if labels.ndim != 1 or (m is not None and labels.shape[0] != m) or labels.shape[0] == 0:
        wanted = "(m,)" if m is None else f"(m,) = ({m},)"
        raise ShapeError(f"{who}: labels must be identities {wanted}, got {tuple(labels.shape)}")
    if labels.dtype.kind not in "biu":
        if labels.dtype.kind != "f" or bool((labels != xp.round(labels)).any()):
            raise InputValueError(f"{who}: labels must be integer identities, got {labels.dtype}")
        labels = labels.astype(xp.int64)
    return labels


class TripletLoss(Loss):
    """The triplet loss of a batch of embeddings with online mining: a ``Loss`` whose targets
    are identities.  ``value_and_grad(labels, E)`` mines the triplets of the batch
    (:func:`mine_triplets`), then gives J and dJ/dE, the scattered gradients of the three
    roles (module docstring).

    Args:
        alpha: the margin (on squared distances; with unit embeddings they lie in [0, 4]).
        strategy: "semi-hard" or "hard" (see :func:`mine_triplets`).
        reduction: "mean" over the mined triplets (default) or "sum" (the course's value).

    After each call, ``last_triplets`` holds the (anchors, positives, negatives) mined and
    ``last_active`` the fraction of them with a loss > 0.  Not registered: a model compiled
    with it cannot be saved with its compile settings; compile the encoder with
    ``loss=None`` and run :func:`triplet_step`.
    """

    name = "triplet"

    def __init__(self, alpha: float = 0.2, strategy: str = "semi-hard", reduction: str = "mean"):
        if not (isinstance(alpha, numbers.Real) and alpha >= 0):
            raise ConfigError(f"TripletLoss: alpha must be a number >= 0, got {alpha!r}")
        if strategy not in MINING_STRATEGIES:
            raise ConfigError(
                f"TripletLoss: strategy must be one of {MINING_STRATEGIES}, got {strategy!r}"
            )
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"TripletLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.alpha, self.strategy, self.reduction = float(alpha), strategy, reduction
        self.last_triplets = None
        self.last_active = float("nan")

    def prepare(self, y, output_shape):
        if len(output_shape) != 1:
            raise ShapeError(
                f"{self.name}: the model's output must be embeddings (m, d), got (m, "
                f"{', '.join(map(str, output_shape))})"
            )
        return _identities(y, None, self.name)

    def value_and_grad(self, y, a):
        triplets = mine_triplets(a, y, self.alpha, self.strategy)
        return self.value_and_grad_for(a, triplets)

    def value_and_grad_for(self, embeddings, triplets):
        """(J, dJ/dE) for given triplets (anchors, positives, negatives) of index arrays
        into the rows of embeddings E (m, d)."""
        xp = backend.xp
        e = xp.asarray(embeddings)
        anchors, positives, negatives = (xp.asarray(i, dtype=xp.int64) for i in triplets)
        self.last_triplets = (anchors, positives, negatives)
        t = int(anchors.shape[0])
        if t == 0:  # no identity with two examples and a negative in the batch
            self.last_active = float("nan")
            return 0.0, xp.zeros_like(e)
        a, p, n = e[anchors], e[positives], e[negatives]  # (T, d) each
        hinge = _hinge(a, p, n, self.alpha)  # (T,)
        self.last_active = float((hinge > 0).mean())
        scale = 1.0 / t if self.reduction == "mean" else 1.0
        grads = xp.concatenate(triplet_loss_grad(a, p, n, self.alpha)) * scale  # (3T, d)
        rows = xp.concatenate([anchors, positives, negatives])  # (3T,)
        onehot = xp.zeros((e.shape[0], 3 * t), dtype=e.dtype)  # S^T: (m, 3T)
        onehot[rows, xp.arange(3 * t)] = 1.0
        return float(hinge.sum()) * scale, onehot @ grads  # dE = S^T dG: (m, d)

    def get_config(self):
        return {
            "name": self.name,
            "alpha": self.alpha,
            "strategy": self.strategy,
            "reduction": self.reduction,
        }


# ---------------------------------------------------------------------- networks
def embedding_encoder(
    input_shape=(28, 28, 1), embedding_dim=64, filters=(32, 64), hidden=128, seed=None, dtype=None
) -> Sequential:
    """A small CNN encoder f: images (m, n_H, n_W, n_C) -> unit embeddings (m, d):

        [CONV 3x3 -> ReLU -> MAXPOOL 2] per entry of ``filters`` -> FLATTEN
        -> FC hidden -> ReLU -> FC embedding_dim -> L2Normalize

    Uncompiled; compile it with an optimizer and ``loss=None`` for :func:`triplet_step`.
    """
    if not (isinstance(embedding_dim, numbers.Integral) and embedding_dim > 0):
        raise ConfigError(f"embedding_encoder: embedding_dim must be > 0, got {embedding_dim!r}")
    layers = []
    for n_filters in filters:
        layers += [Conv2D(n_filters, 3, activation="relu", kernel_initializer="he"), MaxPool2D(2)]
    layers.append(Flatten())
    if hidden:
        layers.append(Dense(hidden, activation="relu", kernel_initializer="he"))
    layers += [Dense(embedding_dim), L2Normalize()]
    return Sequential(layers, input_shape=input_shape, seed=seed, dtype=dtype, name="encoder")


def siamese_model(encoder, name="siamese") -> Model:
    """``Model([anchor, positive, negative] -> [f(anchor), f(positive), f(negative)])``
    calling the encoder's layers, the same objects, on each input: one set of weights,
    shared with ``encoder`` (training either moves both).  Its backward sums the three
    calls' gradients into the shared weights (module docstring).  Uncompiled.

    Args:
        encoder: a one-input, one-output ``Sequential`` or ``Model`` (built here if not yet).
    """
    if not encoder.built:
        encoder.build()
    if encoder.n_inputs != 1 or len(encoder.output_positions) != 1:
        raise ConfigError(
            f"siamese_model: the encoder must have one input and one output, "
            f"got {encoder.n_inputs} and {len(encoder.output_positions)}"
        )
    shape, dtype = encoder.input_shapes[0], encoder.input_dtypes[0]
    inputs = [Input(shape, dtype=dtype, name=role) for role in ("anchor", "positive", "negative")]
    outputs = [_call_encoder(encoder, node) for node in inputs]
    model = Model(inputs, outputs, dtype=encoder.dtype, name=name)
    model.build()
    return model


def _call_encoder(encoder, node):
    """The encoder's graph called on ``node`` (its layers' calls replayed in order)."""
    values = []
    for call in encoder.calls:
        if call.is_input:
            values.append(node)
            continue
        layer = call.layer
        args = [pick(values[p], k) for p, k in zip(call.parents, call.reads, strict=True)]
        if layer.multi_input:
            values.append(layer(args))
        elif len(args) > 1:
            values.append(layer(args[0], initial_state=args[1:]))
        else:
            values.append(layer(args[0]))
    return pick(values[encoder.output_positions[0]], encoder.output_reads[0])


# -------------------------------------------------------------------- training
def siamese_step(siamese, anchors, positives, negatives, alpha=0.2, reduction="mean") -> float:
    """One custom training step of the three-call siamese model on explicit triplets of
    images: forward the three inputs, the triplet loss and its three gradients, one
    backward (each call's dW summed into the shared weights), L2 terms, one optimizer step.

    Returns:
        J (the mean over the triplets, or the sum with ``reduction="sum"``).
    """
    e_a, e_p, e_n = siamese.forward([anchors, positives, negatives], training=True)
    scale = 1.0 / e_a.shape[0] if reduction == "mean" else 1.0
    value = triplet_loss(e_a, e_p, e_n, alpha) * scale
    siamese.backward([g * scale for g in triplet_loss_grad(e_a, e_p, e_n, alpha)])
    siamese.regularize()
    siamese.apply_gradients()
    return value


def triplet_step(encoder, x, labels, loss: TripletLoss) -> float:
    """One custom training step with online mining on a batch x (m, ...) of identities
    ``labels`` (m,) (best P identities x K images, :func:`identity_batches`): one forward,
    mining and dJ/dE (``loss``), one backward, L2 terms, one optimizer step.  Returns J."""
    embeddings = encoder.forward(x, training=True)
    value, d_embeddings = loss.value_and_grad(labels, embeddings)
    encoder.backward(d_embeddings)
    encoder.regularize()
    encoder.apply_gradients()
    return value


def identity_batches(labels, n_identities=8, per_identity=8, seed=None):
    """Endless batches of indices for P = ``n_identities`` identities x K = ``per_identity``
    examples each (FaceNet's sampling, so that every anchor has positives): each batch
    draws P identities among those with >= 2 examples, then K of each identity's
    examples (without replacement where it has K).  Yields int64 arrays (P K,)."""
    labels = np.asarray(backend.to_numpy(labels))
    if labels.ndim != 1 or labels.size == 0:
        raise ShapeError(
            f"identity_batches: labels must be a non-empty (m,) array, got {labels.shape}"
        )
    if n_identities < 2 or per_identity < 2:
        raise ConfigError(
            f"identity_batches: need >= 2 identities x >= 2 examples, got {n_identities} x {per_identity}"
        )
    names, counts = np.unique(labels, return_counts=True)
    usable = names[counts >= 2]
    if usable.size < 2:
        raise InputValueError("identity_batches: fewer than 2 identities have 2 or more examples")
    members = {name: np.flatnonzero(labels == name) for name in usable}
    rng = np.random.default_rng(seed)
    p = min(n_identities, usable.size)
    while True:
        chosen = rng.choice(usable, p, replace=False)
        yield np.concatenate(
            [
                rng.choice(members[name], per_identity, replace=members[name].size < per_identity)
                for name in chosen
            ]
        ).astype(np.int64)


def train_triplets(
    encoder,
    x,
    labels,
    steps=1000,
    loss=None,
    n_identities=8,
    per_identity=8,
    seconds=None,
    seed=None,
    callback=None,
) -> dict:
    """Train a compiled encoder with the triplet loss and online mining: ``steps`` batches
    of :func:`identity_batches` through :func:`triplet_step` (or until ``seconds`` have
    passed).

    Args:
        encoder: compiled (an optimizer; ``loss=None``) one-input encoder.
        x, labels: training images (m, ...) and their identities (m,).
        loss: a :class:`TripletLoss` (default: alpha 0.2, semi-hard, mean).
        callback: ``callback(step, value, loss)`` after every step (logging).

    Returns:
        ``{"loss": [J per step], "active": [fraction of active triplets per step],
        "steps": n, "seconds": s}``.
    """
    loss = loss or TripletLoss()
    x = encoder.prepare_inputs(x, "train_triplets")
    labels = np.asarray(backend.to_numpy(labels))
    if labels.shape != (x.shape[0],):
        raise ShapeError(
            f"train_triplets: labels must be (m,) = ({x.shape[0]},), got {labels.shape}"
        )
    history = {"loss": [], "active": []}
    start = time.perf_counter()
    batches = identity_batches(labels, n_identities, per_identity, seed)
    step = 0
    for step in range(1, steps + 1):
        index = next(batches)
        value = triplet_step(encoder, x[backend.xp.asarray(index)], labels[index], loss)
        history["loss"].append(value)
        history["active"].append(loss.last_active)
        if callback is not None:
            callback(step, value, loss)
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
    history.update(steps=step, seconds=time.perf_counter() - start)
    return history


# ------------------------------------------------------- verification, recognition
# (NumPy: a few distances per query; embeddings on another array module are copied over)
def distances(embedding_a, embedding_b):
    """||a - b|| over the last axis: (d,) and (d,) give a 0-d array, (n, d) and (n, d) the
    n pairs' (n,) (either side may be one (d,) vector, compared with every row of the other)."""
    a, b = _embedding(embedding_a, "embedding_a"), _embedding(embedding_b, "embedding_b")
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(
            f"verify: embeddings of different sizes d: {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"verify: {a.shape[0]} and {b.shape[0]} embeddings; give as many of each, or one (d,)"
        )
    diff = a - b  # (n, d) or (d,)
    return np.sqrt(np.einsum("...i,...i->...", diff, diff))


def verify(embedding_a, embedding_b, threshold):
    """Are a and b the same identity?  The course's ``verify``: distance = ||a - b||,
    same = distance < threshold.

    Args:
        embedding_a, embedding_b: (d,) each, or (n, d) pairs row by row (one side may be
            (d,)).
        threshold: the largest distance still "same" (exclusive), > 0, chosen on a dev
            set (:func:`best_threshold`).  The course uses 0.7 with FaceNet's encodings.

    Returns:
        (distance, same): a float and a bool for one pair; arrays (n,) for n pairs.
    """
    threshold = _threshold(threshold, "verify")
    d = distances(embedding_a, embedding_b)
    if d.ndim == 0:
        return float(d), bool(d < threshold)
    return d, d < threshold


def identify(embedding, database, threshold):
    """Who is it?  The course's ``who_is_it``: the identity of ``database`` nearest to
    ``embedding``, by its smallest distance over that identity's embeddings; None ("not
    in the database") when that distance is >= threshold.

    Args:
        embedding: (d,) one query, or (n, d) queries.
        database: dict name -> (k, d) embeddings (k >= 1) or (d,) one embedding.
        threshold: > 0, as in :func:`verify`.

    Returns:
        (name or None, distance) for one query; (list of names or None, list of
        distances) for n queries.  Ties go to the identity first in the database.
    """
    threshold = _threshold(threshold, "identify")
    queries = _embedding(embedding, "embedding")
    names, stored, starts = _stack_database(database, queries.shape[-1])
    q = queries.reshape(-1, queries.shape[-1])  # (n, d)
    sq = (
        np.einsum("ij,ij->i", q, q)[:, None]
        + np.einsum("ij,ij->i", stored, stored)[None, :]
        - 2.0 * (q @ stored.T)
    )  # (n, N): ||q - s||^2 of every query against every stored embedding
    dist = np.sqrt(np.maximum(sq, 0.0))
    per_identity = np.minimum.reduceat(dist, starts, axis=1)  # (n, identities)
    best = per_identity.argmin(axis=1)  # (n,)
    best_dist = per_identity[np.arange(q.shape[0]), best]  # (n,)
    found = [
        names[i] if d < threshold else None
        for i, d in zip(best.tolist(), best_dist.tolist(), strict=True)
    ]
    if queries.ndim == 1:
        return found[0], float(best_dist[0])
    return found, best_dist.tolist()


def _stack_database(database, d):
    """(names, every stored embedding (N, d), where each name's rows start (identities,))."""
    if not isinstance(database, dict):
        raise InputValueError(
            f"identify: database must be a dict name -> embeddings, got {type(database).__name__}"
        )
    if not database:
        raise InputValueError("identify: the database is empty (no identity to compare with)")
    names, rows, starts, n = [], [], [], 0
    for name, value in database.items():
        e = _embedding(value, f"identify: database[{name!r}]")
        e = e.reshape(-1, e.shape[-1])  # (k, d)
        if e.shape[-1] != d or e.shape[0] == 0:
            raise ShapeError(
                f"identify: database[{name!r}] holds embeddings of shape {tuple(e.shape)}, the "
                f"query has d = {d}"
            )
        names.append(name)
        rows.append(e)
        starts.append(n)
        n += e.shape[0]
    return names, np.concatenate(rows), np.asarray(starts)


def _embedding(value, what):
    e = np.asarray(backend.to_numpy(value))
    if e.dtype.kind not in "biuf":
        raise InputValueError(f"{what}: embeddings must be numbers, got dtype {e.dtype}")
    if e.ndim not in (1, 2) or e.shape[-1] == 0:
        raise ShapeError(
            f"{what}: expected an embedding (d,) or embeddings (n, d), got {tuple(e.shape)}"
        )
    if e.ndim == 2 and e.shape[0] == 0:
        raise ShapeError(f"{what}: no embeddings (shape {tuple(e.shape)})")
    if not np.isfinite(e).all():
        raise InputValueError(f"{what}: embeddings contain NaN or inf")
    return e if e.dtype.kind == "f" else e.astype(np.float64)


def _threshold(threshold, who):
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold > 0:
        raise ConfigError(f"{who}: threshold must be a number > 0, got {threshold!r}")
    return float(threshold)


def best_threshold(distance, same):
    """The threshold t maximizing the accuracy of ``distance < t`` against ``same`` on a
    dev set of pairs: every cut between consecutive sorted distances is tried (one sort and
    a cumulative sum), t the midpoint of the best one.

    Args:
        distance: (n,) distances of n pairs.
        same: (n,) bools, True for pairs of one identity.

    Returns:
        (threshold, dev accuracy at it).
    """
    d = np.asarray(backend.to_numpy(distance), dtype=np.float64).reshape(-1)
    same = np.asarray(backend.to_numpy(same), dtype=bool).reshape(-1)
    if d.shape != same.shape or d.size == 0:
        raise ShapeError(f"best_threshold: {d.shape[0]} distances for {same.shape[0]} labels")
    if not np.isfinite(d).all() or (d < 0).any():
        raise InputValueError("best_threshold: distances must be finite and >= 0")
    order = np.argsort(d, kind="stable")
    d, same = d[order], same[order]
    # cut k (0..n): the k smallest called "same", the others "different"
    n_different = int((~same).sum())
    correct = np.concatenate([[0], np.cumsum(same)]) + np.concatenate(
        [[n_different], n_different - np.cumsum(~same)]
    )  # (n + 1,)
    cuts = np.concatenate([[d[0] / 2], (d[:-1] + d[1:]) / 2, [d[-1] + 1.0]])  # (n + 1,)
    # a cut exists where the distances on its two sides differ (and t = cut > 0)
    possible = np.concatenate([[d[0] > 0], d[:-1] < d[1:], [True]])
    k = int(np.argmax(np.where(possible, correct, -1)))
    return float(cuts[k]), float(correct[k] / d.size)
