"""Callbacks: hooks into fit (progress bar, early stopping, checkpoints).

One concept a module: ``base`` (Callback, CallbackList, History), ``progress``
(ProgressBar), ``monitor`` (MonitorCallback, the base of every callback that watches a
metric), ``early_stopping`` and ``checkpoint``. Import them from here.
"""

from .base import Callback, CallbackList, History
from .checkpoint import ModelCheckpoint, restore_states
from .early_stopping import EarlyStopping
from .monitor import MonitorCallback
from .progress import ProgressBar

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgressBar",
    "restore_states",
]
