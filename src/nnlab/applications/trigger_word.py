"""Trigger-word detection (Course 5, week 3): the course's model, its detections, a score.

The model reads a clip's spectrogram (m, Tx = 5511, 101) and says, at each of Ty = 1375
output steps, the probability that "activate" has just ended (the course's ``modelf``):

    Conv1D(196, 15, strides=4)   (m, 1375, 196)   a 15-frame window every 4 frames
    BatchNormalization -> ReLU -> Dropout
    GRU(128, return_sequences=True) -> Dropout -> BatchNormalization
    GRU(128, return_sequences=True) -> Dropout -> BatchNormalization -> Dropout
    Dense(1, sigmoid) at every step      (m, 1375, 1)

trained with the binary cross-entropy of every step.  The course drops 80% (its Keras
``Dropout(0.8)``) and fine-tunes a model trained for hours on 4,000 clips; nnlab trains
from scratch, on fresh clips every epoch, and defaults to 0.3.

Detections.  The output stays above the threshold for a while after the word (the labels
are 50 steps of ones), so a detection is a run of steps above the threshold; the course's
``chime_on_activate`` likewise fires once and then waits 75 steps.  A detection is right
when it starts within ``tolerance`` steps (25 steps, 180 ms) of the trigger word's 50
labelled steps: from 25 steps before the word ends (a model often fires on the word's last
sound, a step or two before the label starts) to 25 steps after its labels end.  Each
trigger word can be found once:

    precision = right detections / detections,   recall = found words / trigger words
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.trigger_clips import LABEL_STEPS, N_FREQ, TX, TY, output_step
from ..layers import GRU, BatchNormalization, Conv1D, Dense, Dropout, Input, ReLU
from ..training.model import Sequential


def trigger_word_model(
    input_shape=(TX, N_FREQ),
    filters: int = 196,
    units: int = 128,
    dropout: float = 0.3,
    bn_momentum: float = 0.9,
    seed=None,
    dtype=None,
) -> Sequential:
    """The course's trigger-word model (module docstring) for spectrograms of
    ``input_shape`` (frames, frequencies); ``bn_momentum`` is the batch norms' (Keras'
    default 0.99 lags ~100 steps behind the weights, which at nnlab's few hundred steps of
    training leaves the inference outputs shifted)."""
    return Sequential(
        [
            Input(input_shape),
            Conv1D(filters, 15, strides=4, name="conv"),
            BatchNormalization(bn_momentum, name="conv_bn"),
            ReLU(name="conv_relu"),
            Dropout(dropout, name="conv_dropout"),
            GRU(units, return_sequences=True, reset_after=False, name="gru_1"),
            Dropout(dropout, name="gru_1_dropout"),
            BatchNormalization(bn_momentum, name="gru_1_bn"),
            GRU(units, return_sequences=True, reset_after=False, name="gru_2"),
            Dropout(dropout, name="gru_2_dropout"),
            BatchNormalization(bn_momentum, name="gru_2_bn"),
            Dropout(dropout, name="out_dropout"),
            Dense(1, activation="sigmoid", name="trigger"),
        ],
        seed=seed,
        dtype=dtype,
        name="trigger_word",
    )


def detections(probabilities: np.ndarray, threshold: float = 0.5, gap: int = 75) -> list[int]:
    """The output steps where detections start: runs of probabilities (Ty,) above the
    threshold, a run closer than ``gap`` steps to the previous detection's start joining it
    (the course's chime_on_activate waits 75 steps before it fires again)."""
    above = np.asarray(probabilities).reshape(-1) > threshold
    starts = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    fired: list[int] = []
    for step in starts:
        if not fired or step - fired[-1] >= gap:
            fired.append(int(step))
    return fired


@dataclass
class DetectionScore:
    """Counts over clips, and precision and recall from them."""

    detections: int = 0
    right: int = 0
    triggers: int = 0
    found: int = 0

    @property
    def precision(self) -> float:
        return self.right / self.detections if self.detections else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.triggers if self.triggers else 1.0

    def add(self, fired: list[int], trigger_steps: list[int], tolerance: int = 25) -> None:
        """Score one clip: ``fired`` detection steps, ``trigger_steps`` the output steps at
        which its trigger words end."""
        found = set()
        for step in fired:
            match = next(
                (
                    i
                    for i, end in enumerate(trigger_steps)
                    if i not in found and end - tolerance <= step <= end + LABEL_STEPS + tolerance
                ),
                None,
            )
            if match is not None:
                found.add(match)
        self.detections += len(fired)
        self.right += len(found)
        self.triggers += len(trigger_steps)
        self.found += len(found)


def score_clips(probabilities: np.ndarray, clips: list, threshold: float = 0.5) -> DetectionScore:
    """Precision and recall of the detections in (m, Ty[, 1]) outputs for ``clips`` (with
    their ``trigger_ends`` in samples)."""
    score = DetectionScore()
    for probs, clip in zip(probabilities, clips, strict=True):
        n = len(clip.audio)
        score.add(detections(probs, threshold), [output_step(e, n) for e in clip.trigger_ends])
    return score


def detection_samples(fired: list[int], n_samples: int, n_steps: int = TY) -> list[int]:
    """The audio sample at which each detection step starts (for the chime), for a clip of
    ``n_samples`` whose output has ``n_steps`` steps."""
    return [int(step * n_samples // n_steps) for step in fired]
