"""nnlab gradcheck [MODEL]: backprop's gradients against finite differences.

    nnlab gradcheck                               a small new net on planar data
    nnlab gradcheck --layers 5,3 --activation tanh --batch-norm --l2 0.1
    nnlab gradcheck runs/deep --max-per-param 20  a saved model on its run's data

The check runs in float64 on the first ``--examples`` training examples, with the step
``--epsilon``, and passes when the relative difference
||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||) of every parameter tensor is
below ``--threshold``; a failure names the worst tensors.  Why these defaults: the module
docstring of :mod:`nnlab.training.gradcheck`.
"""

from __future__ import annotations

import argparse

from ..runs.config import RunConfig
from ..runs.folder import RunFolder
from ..runs.runner import build_model, load_data
from ..saving.model_file import load_model
from ..training.gradcheck import EPSILON, THRESHOLD, gradcheck
from .config_flags import add_config_flags, given_config_flags
from .parser import command_parser

#: The run-config fields that describe the new net (flags of this command too).
NET_FIELDS = ("dataset", "layers", "activation", "batch_norm", "dropout", "l2")
#: The new net checked when no MODEL is given: small, tanh, on planar data.
NET = RunConfig(dataset="planar", layers=[5, 3], activation="tanh")


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab gradcheck [MODEL] [net flags] [--examples N] [--max-per-param K]
    [--epsilon E] [--threshold T]``."""
    parser = command_parser(
        subparsers, "gradcheck", "check backprop against finite differences", __doc__
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        help="a model file or run folder (default: a new net made from the flags below)",
    )
    add_config_flags(parser, NET, NET_FIELDS)
    parser.add_argument(
        "--examples", type=int, default=8, help="training examples to check on (default: 8)"
    )
    parser.add_argument(
        "--max-per-param",
        type=int,
        default=None,
        help="check a random sample of this many entries per tensor (default: every entry)",
    )
    parser.add_argument(
        "--epsilon",
        type=positive_float,
        default=EPSILON,
        help="finite-difference step; the course's 1e-7 gives false alarms on a confident "
        f"net (default: {EPSILON:g})",
    )
    parser.add_argument(
        "--threshold",
        type=positive_float,
        default=THRESHOLD,
        help="largest relative difference that passes, for every parameter tensor "
        f"(default: {THRESHOLD:g})",
    )
    parser.set_defaults(handler=cmd_gradcheck)
    return parser


def positive_float(text: str) -> float:
    """argparse type of ``--epsilon`` and ``--threshold``: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def cmd_gradcheck(args) -> int:
    """Print the per-tensor differences and OK / FAILED naming the worst tensors; 1 when
    the check fails."""
    model, data = _model_and_data(args)
    x, y = data.x_train[: args.examples], data.y_train[: args.examples]
    result = gradcheck(model, x, y, epsilon=args.epsilon, max_per_param=args.max_per_param)
    print(result)
    print(verdict(result, args.threshold))
    return 0 if result.passed(args.threshold) else 1


def verdict(result, threshold: float, shown: int = 3) -> str:
    """``OK: ...`` with the worst tensor, or ``FAILED: ...`` naming the ``shown`` worst
    tensors at or above ``threshold``."""
    failures = result.failures(threshold)
    if not failures:
        worst = max(result.per_parameter.items(), key=lambda item: item[1], default=None)
        where = f" (worst: {worst[0]} {worst[1]:.3e})" if worst else ""
        return f"OK: every tensor's relative difference is below {threshold:g}{where}"
    named = ", ".join(f"{name} {diff:.3e}" for name, diff in list(failures.items())[:shown])
    more = f" and {len(failures) - shown} more" if len(failures) > shown else ""
    return (
        f"FAILED: backprop disagrees with finite differences in {named}{more} "
        f"(>= {threshold:g}; overall {result.difference:.3e})"
    )


def _model_and_data(args):
    """The saved model with its run's data settings (model kind, split, scaling; else the
    --dataset flag), or a new net from the flags on its dataset."""
    net = NET.updated(**given_config_flags(args, NET_FIELDS))
    if args.model:
        folder, model_path = RunFolder.for_model(args.model)
        config = folder.config_or(RunConfig(dataset=net.dataset))
        return load_model(model_path), load_data(config)
    data = load_data(net)
    return build_model(net, data.x_train.shape[1:], data.n_classes), data
