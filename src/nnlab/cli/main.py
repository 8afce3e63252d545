"""The ``nnlab`` command: train, evaluate, gradcheck.

nnlab train                          the default deep net on MNIST
nnlab train --config run.toml --epochs 20 --out runs/deep
nnlab train --resume runs/deep       continue from the last checkpoint
nnlab evaluate runs/deep --dataset mnist
nnlab gradcheck --layers 5,3 --activation tanh
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..exceptions import NNLabError
from ..practice import diagnose
from ..runs.config import RunConfig

TRAIN_FLAGS = {
    # flag: (config field, type, help)
    "--dataset": ("dataset", str, "mnist | planar | moons | circles | PATH.npz (Keras layout)"),
    "--model": ("model", str, "mlp | cnn (LeNet-style) | resnet (small ResNet)"),
    "--layers": ("layers", None, "hidden layer widths, e.g. 256,128"),
    "--activation": ("activation", str, "relu | tanh | sigmoid | leaky_relu"),
    "--initializer": ("initializer", str, "he | xavier | glorot_uniform | small_random | zeros"),
    "--optimizer": ("optimizer", str, "sgd | momentum | rmsprop | adam"),
    "--learning-rate": ("learning_rate", float, "alpha"),
    "--beta": ("beta", float, "momentum/RMSprop beta, Adam beta_1"),
    "--decay": ("decay", str, "none | inverse_time | scheduled | exponential"),
    "--decay-rate": ("decay_rate", float, "learning-rate decay rate"),
    "--decay-interval": ("decay_interval", int, "epochs per step of 'scheduled' decay"),
    "--epochs": ("epochs", int, "number of epochs"),
    "--batch-size": ("batch_size", int, "mini-batch size"),
    "--l2": ("l2", float, "L2 lambda (the course's (lambda/2m) sum ||W||^2)"),
    "--dropout": ("dropout", float, "dropout rate (1 - keep_prob)"),
    "--dev-size": ("dev_size", float, "dev set: fraction (<1) or count of the training set"),
    "--early-stopping": ("early_stopping", int, "patience in epochs on val_loss (0: off)"),
    "--seed": ("seed", int, "random seed"),
}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except NNLabError as err:
        print(f"nnlab: error: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnlab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"nnlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a deep net and write a run folder")
    train.add_argument("--config", help="a run config (TOML); flags override it")
    for flag, (_, kind, text) in TRAIN_FLAGS.items():
        train.add_argument(flag, type=kind or _int_list, default=None, help=text)
    train.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="batch normalization after each hidden Dense layer",
    )
    train.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random small rotations and shifts of training images (cnn, resnet)",
    )
    train.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardize inputs with training-set statistics",
    )
    train.add_argument("--out", help="run folder (default: a new folder under runs/)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--human-error", type=diagnose.error_fraction, default=0.0, help="for the diagnosis"
    )
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on a dataset")
    evaluate.add_argument("model", help="a model file or a run folder")
    evaluate.add_argument("--dataset", default=None, help="default: the run's dataset")
    evaluate.add_argument("--split", choices=("train", "dev", "test", "all"), default="all")
    evaluate.set_defaults(handler=cmd_evaluate)

    check = commands.add_parser("gradcheck", help="check backprop against finite differences")
    check.add_argument("model", nargs="?", help="a model file or run folder (default: a new net)")
    check.add_argument("--dataset", default="planar")
    check.add_argument("--layers", type=_int_list, default=[5, 3])
    check.add_argument("--activation", default="tanh")
    check.add_argument("--batch-norm", action="store_true")
    check.add_argument("--dropout", type=float, default=0.0)
    check.add_argument("--l2", type=float, default=0.0)
    check.add_argument("--examples", type=int, default=8)
    check.add_argument(
        "--max-per-param",
        type=int,
        default=None,
        help="check a random sample of this many entries per tensor",
    )
    check.add_argument("--threshold", type=float, default=1e-7)
    check.set_defaults(handler=cmd_gradcheck)
    diagnose.add_command(commands)
    from ..practice.error_analysis import add_command as add_errors

    add_errors(commands)
    from .tune import add_command as add_tune

    add_tune(commands)
    return parser


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None


# ---------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from ..runs.runner import new_run_dir, train

    if args.resume:
        run_dir = Path(args.resume)
        config = RunConfig.from_toml(run_dir / "config.toml")
        config = config.updated(epochs=args.epochs)
    else:
        config = RunConfig.from_toml(args.config) if args.config else RunConfig()
        flags = {
            field: getattr(args, flag[2:].replace("-", "_"))
            for flag, (field, _, _) in TRAIN_FLAGS.items()
        }
        if flags["dev_size"] is not None and flags["dev_size"] >= 1:
            flags["dev_size"] = int(flags["dev_size"])
        config = config.updated(
            **flags, batch_norm=args.batch_norm, standardize=args.standardize, augment=args.augment
        )
        run_dir = Path(args.out) if args.out else new_run_dir(config)
    print(f"nnlab: training on {config.dataset} -> {run_dir}", file=sys.stderr)
    try:
        result = train(config, run_dir, verbose=0 if args.quiet else 1, resume=bool(args.resume))
    except KeyboardInterrupt:
        print(
            f"\nnnlab: interrupted. The last checkpoint is {run_dir / 'checkpoint.safetensors'};"
            f" resume with: nnlab train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    print(format_metrics(result.metrics))
    print(f"\n{diagnose.diagnose_run(run_dir, human_error=args.human_error)}")
    print(f"trained in {result.seconds:.1f} s; run folder: {run_dir}")
    if "stop_reason" in result.metrics:
        print(f"note: {result.metrics['stop_reason']}")
        if "nan" in result.metrics["stop_reason"] or "inf" in result.metrics["stop_reason"]:
            return 1
    return 0


def format_metrics(metrics: dict) -> str:
    """A small table: one row per data part, loss and accuracy."""
    lines = [f"{'':<7}{'loss':>10}{'accuracy':>11}"]
    for part in ("train", "dev", "test"):
        if part in metrics:
            m = metrics[part]
            lines.append(f"{part:<7}{m['loss']:>10.4f}{m.get('accuracy', float('nan')):>11.2%}")
    return "\n".join(lines)


# ------------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    from ..runs.runner import MODEL, load_data
    from ..saving.model_file import load_model

    path = Path(args.model)
    run_dir = path if path.is_dir() else path.parent
    model = load_model(path / MODEL if path.is_dir() else path)
    config_file = run_dir / "config.toml"
    config = RunConfig.from_toml(config_file) if config_file.exists() else RunConfig()
    config = config.updated(dataset=args.dataset)
    data = load_data(config)
    parts = data.parts() if args.split == "all" else {args.split: data.parts()[args.split]}
    metrics = {part: model.evaluate(x, y) for part, (x, y) in parts.items()}
    print(format_metrics(metrics))
    return 0


# ------------------------------------------------------------------ gradcheck
def cmd_gradcheck(args) -> int:
    from ..runs.runner import MODEL, build_model, load_data
    from ..saving.model_file import load_model
    from ..training.gradcheck import gradcheck

    if args.model:
        path = Path(args.model)
        model = load_model(path / MODEL if path.is_dir() else path)
        run_config = path / "config.toml" if path.is_dir() else path.parent / "config.toml"
        # the run's own data settings (model kind, split, scaling), else the --dataset flag
        config = (
            RunConfig.from_toml(run_config)
            if run_config.exists()
            else RunConfig(dataset=args.dataset)
        )
        data = load_data(config)
    else:
        config = RunConfig(
            dataset=args.dataset,
            layers=args.layers,
            activation=args.activation,
            batch_norm=args.batch_norm,
            dropout=args.dropout,
            l2=args.l2,
        )
        data = load_data(config)
        model = build_model(config, data.x_train.shape[1:], data.n_classes)
    x, y = data.x_train[: args.examples], data.y_train[: args.examples]
    result = gradcheck(model, x, y, max_per_param=args.max_per_param)
    print(result)
    ok = result.difference < args.threshold
    print(
        f"{'OK' if ok else 'FAILED'}: difference {result.difference:.3e} "
        f"{'<' if ok else '>='} {args.threshold:g}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
