"""The course's trigger-word model, its detections and their score."""

import numpy as np
import pytest

from nnlab.applications.trigger_word import (
    DetectionScore,
    detection_samples,
    detections,
    score_clips,
    trigger_word_model,
)
from nnlab.data.trigger_clips import Clip, labels_for


def test_model_has_the_course_shapes_and_parameter_count():
    model = trigger_word_model(seed=0)
    model.build()
    assert model.output_shape == (1375, 1)
    # the course's model.summary(): 522,561 parameters, 904 of them non-trainable (the
    # batch norms' moving means and variances, which nnlab keeps as state)
    moving = sum(v.size for layer in model.layers for v in layer.state.values())
    assert moving == 904
    assert model.count_params() + moving == 522_561
    x = np.random.default_rng(0).standard_normal((2, 5511, 101)).astype(np.float32)
    assert model.predict(x).shape == (2, 1375, 1)


def test_detections_are_runs_above_threshold_spaced_by_the_gap():
    p = np.zeros(1375)
    p[100:150] = 0.9  # one detection at 100
    p[160:170] = 0.9  # 60 steps after it: the same detection (gap 75)
    p[300:305] = 0.6  # a second
    p[400] = 0.4  # under the threshold
    assert detections(p) == [100, 300]
    assert detections(p, threshold=0.3) == [100, 300, 400]
    assert detections(p, gap=10) == [100, 160, 300]


def test_score_counts_right_detections_once():
    score = DetectionScore()
    # words end at steps 200 and 700; detections at 198 (right: 2 steps early is within
    # the 25 of tolerance), 230 (the same word: its second detection is wrong), 760 (right:
    # within 50 + 25 steps after the end) and 1000 (wrong)
    score.add([198, 230, 760, 1000], [200, 700])
    assert (score.detections, score.right, score.triggers, score.found) == (4, 2, 2, 2)
    assert score.precision == 0.5 and score.recall == 1.0
    score.add([370, 526], [400, 450])  # 30 steps early and 26 steps after the labels: wrong
    assert (score.right, score.found, score.triggers) == (2, 2, 4)
    score.add([], [400])  # a missed word
    assert score.recall == pytest.approx(2 / 5)
    assert DetectionScore().precision == 1.0  # nothing detected, nothing wrong


def test_perfect_outputs_score_one():
    n = 160_000
    ends = [[40_000, 120_000], [], [80_000]]
    clips = [Clip(np.zeros(n, np.float32), labels_for(e, n), e) for e in ends]
    labels = np.stack([c.labels for c in clips])[:, :, None]
    score = score_clips(labels, clips)
    assert score.precision == 1.0 and score.recall == 1.0 and score.triggers == 3


def test_detection_samples_map_steps_to_the_clip():
    assert detection_samples([0, 1375 // 2], 160_000) == [0, 79_941]
    assert detection_samples([10], 1000, n_steps=100) == [100]
