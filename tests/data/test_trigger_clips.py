"""Clips, labels and spectrograms of the trigger-word lab."""

import numpy as np
import pytest

from nnlab.data.speech import SAMPLE_RATE, load_word_bank
from nnlab.data.trigger_clips import (
    LABEL_STEPS,
    N_FREQ,
    TX,
    TY,
    ClipMaker,
    add_chimes,
    chime,
    labels_for,
    spectrogram,
)


@pytest.fixture(scope="module")
def maker():
    return ClipMaker(load_word_bank(), "train")


def test_spectrogram_has_the_course_shape_and_finds_a_tone():
    t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE
    x = 0.1 * np.sin(2 * np.pi * 1000 * t)
    features = spectrogram(x)
    assert features.shape == (TX, N_FREQ) == (5511, 101)
    # bins of 16000 / 200 = 80 Hz: 1 kHz lies in bin 12.5, between 12 and 13
    assert set(np.argmax(features, axis=1)) <= {12, 13}


def test_labels_by_the_course_formula():
    n = 10 * SAMPLE_RATE
    y = labels_for([n // 2], n)  # ends at 5 s: end_y = floor(80000 * 1375 / 160000) = 687
    assert y.shape == (TY,)
    assert np.flatnonzero(y).tolist() == list(range(688, 688 + LABEL_STEPS))
    assert labels_for([n - 1], n).sum() == 0  # the word ends at the last step: no room


def test_clips_are_seeded_non_overlapping_and_labelled(maker):
    rng = np.random.default_rng(5)
    clips = [maker.clip(rng) for _ in range(30)]
    again = maker.clip(np.random.default_rng(5))
    np.testing.assert_array_equal(again.audio, clips[0].audio)
    counts = [len(c.trigger_ends) for c in clips]
    assert max(counts) <= 4 and sum(counts) > 20 and min(counts) == 0
    for clip in clips:
        assert clip.audio.shape == (10 * SAMPLE_RATE,) and np.abs(clip.audio).max() <= 1
        np.testing.assert_array_equal(clip.labels, labels_for(clip.trigger_ends, len(clip.audio)))


def test_words_stand_above_the_background(maker):
    clip = maker.clip(np.random.default_rng(2))
    assert clip.trigger_ends
    end = clip.trigger_ends[0]
    word = clip.audio[end - 4000 : end]  # the word's last quarter second
    quiet = np.sort(
        [np.sqrt(np.mean(clip.audio[i : i + 4000] ** 2)) for i in range(0, 156000, 4000)]
    )
    assert np.sqrt(np.mean(word**2)) > 3 * quiet[0]


def test_dataset_shapes(maker):
    x, y, clips = maker.dataset(3, seed=0)
    assert x.shape == (3, TX, N_FREQ) and x.dtype == np.float32
    assert y.shape == (3, TY, 1)
    assert len(clips) == 3


def test_chimes_land_where_asked():
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    out = add_chimes(audio, [4000, SAMPLE_RATE - 100])  # the second is cut at the end
    assert np.all(out[:4000] == 0) and np.abs(out[4000:4100]).max() > 0.05
    assert out.shape == audio.shape and np.all(audio == 0)
    bell = chime()
    assert np.argmax(np.abs(np.fft.rfft(bell))) == pytest.approx(
        880 * len(bell) / SAMPLE_RATE, abs=2
    )
