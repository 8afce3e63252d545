"""nnlab gradcheck [MODEL]: backprop's gradients against finite differences.

    nnlab gradcheck                               a small new net on planar data
    nnlab gradcheck --layers 5,3 --activation tanh --batch-norm --l2 0.1
    nnlab gradcheck runs/deep --max-per-param 20  a saved model on its run's data

The check runs in float64 on the first ``--examples`` training examples and passes when
the relative difference ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||) is
below ``--threshold``.
"""

from __future__ import annotations

import argparse

from ..runs.config import RunConfig
from ..runs.folder import RunFolder
from ..runs.runner import build_model, load_data
from ..saving.model_file import load_model
from ..training.gradcheck import gradcheck
from .config_flags import add_config_flags, given_config_flags
from .parser import command_parser

#: The run-config fields that describe the new net (flags of this command too).
NET_FIELDS = ("dataset", "layers", "activation", "batch_norm", "dropout", "l2")
#: The new net checked when no MODEL is given: small, tanh, on planar data.
NET = RunConfig(dataset="planar", layers=[5, 3], activation="tanh")


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab gradcheck [MODEL] [net flags] [--examples N] [--max-per-param K]``."""
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
        "--threshold",
        type=float,
        default=1e-7,
        help="largest relative difference that passes (default: 1e-7)",
    )
    parser.set_defaults(handler=cmd_gradcheck)
    return parser


def cmd_gradcheck(args) -> int:
    """Print the per-tensor differences and OK / FAILED; 1 when the check fails."""
    model, data = _model_and_data(args)
    x, y = data.x_train[: args.examples], data.y_train[: args.examples]
    result = gradcheck(model, x, y, max_per_param=args.max_per_param)
    print(result)
    ok = result.difference < args.threshold
    print(
        f"{'OK' if ok else 'FAILED'}: difference {result.difference:.3e} "
        f"{'<' if ok else '>='} {args.threshold:g}"
    )
    return 0 if ok else 1


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
