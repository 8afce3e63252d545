"""What the resumable training commands share (``nnlab charlm train``, ``nnlab trigger
train``): their flags with ``--resume``, and the settings a run folder keeps.

A run folder holds ``settings.json`` (the flags the run started with) and
``checkpoint.safetensors`` (rewritten after every epoch).  ``--resume`` reads the settings
back, so a resumed run trains as the uninterrupted one would; only ``--epochs`` may extend
it.  A folder holding a run is never trained into afresh.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..exceptions import InputValueError
from ..training.callbacks import Callback

MODEL_FILE, CURVES_FILE, METRICS_FILE = "model.safetensors", "learning_curves.png", "metrics.json"
CHECKPOINT_FILE, SETTINGS_FILE = "checkpoint.safetensors", "settings.json"


def add_train_options(parser, options: list) -> None:
    """``--resume`` and the options, each (flag, type, default, help); the help gets
    "(default: ...)" unless it says its default itself."""
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (default: off)",
    )
    for flag, kind, default, text in options:
        shown = "" if "(default:" in text else f" (default: {default})"
        parser.add_argument(flag, type=kind, default=default, help=text + shown)


def run_settings(args, out: Path, keys, default_epochs: int, command: str) -> dict:
    """The settings of the run in ``out``: the flags ``keys`` of ``args`` (``epochs``
    defaulting to ``default_epochs``), or with --resume those saved in the folder, --epochs
    extending them."""
    if args.resume:
        if not (out / CHECKPOINT_FILE).exists():
            raise InputValueError(f"{command} --resume: no checkpoint in {out} to resume")
        settings = json.loads((out / SETTINGS_FILE).read_text())
        settings["epochs"] = args.epochs or settings["epochs"]
        return settings
    if (out / CHECKPOINT_FILE).exists():
        raise InputValueError(
            f"{command}: {out} holds a run; --resume continues it, or choose another --out"
        )
    settings = {key: getattr(args, key) for key in keys}
    settings["epochs"] = args.epochs or default_epochs
    return settings


class OneEpoch(Callback):
    """Ends fit after one epoch (numbered out of the run's): the next epoch trains on new
    data (fresh clips, fresh canvases)."""

    def on_epoch_end(self, epoch, logs):
        self.model.stop_training = True
