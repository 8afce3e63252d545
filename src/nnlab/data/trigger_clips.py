"""Training clips for trigger-word detection, made as the course makes them.

A clip is 10 s of background audio into which 0-4 "activate"s and 0-2 other words are
inserted at random, never overlapping (the course's ``create_training_example``).  Its
spectrogram has the course's shape, Tx = 5511 frames of 101 frequencies, and its labels
Ty = 1375 output steps (the model's Conv1D, kernel 15 and stride 4, maps 5511 frames to
1375): y<t> = 1 for the 50 steps after an "activate" ends, else 0:

    end_y = floor(end_sample * Ty / n_samples),   y[end_y + 1 : end_y + 51] = 1

The course samples its audio at 44.1 kHz and takes plt.specgram(NFFT=200, noverlap=120).
nnlab's words are 16 kHz speech, so the window keeps its 200 samples (101 frequencies up to
8 kHz) and the hop is 29 samples, which gives the same 5511 frames per 10 s; the features
are the log power in decibels, scaled (the course feeds raw power, which spans ten orders
of magnitude; in decibels the same model trains in far fewer steps).

Backgrounds.  The course's are recordings of places; none can be had offline, so nnlab
makes them: colored noise (power falling as 1/f^alpha, alpha in [0, 2]: white to brown)
under a slow loudness swell, sometimes a mains hum (50 or 60 Hz and harmonics), and faint
babble (other words, 20-30 dB under the foreground).  Words are set to a loudness drawn
around -20 dBFS (the course's ``match_target_amplitude``), the background 15-35 dB under.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import mlab

from ..exceptions import InputValueError
from .speech import SAMPLE_RATE, WordBank

CLIP_SECONDS = 10
TX, N_FREQ, TY = 5511, 101, 1375
NFFT, HOP = 200, 29
LABEL_STEPS = 50
DB_FLOOR, DB_SCALE = -100.0, 20.0  # features = (dB - DB_FLOOR) / DB_SCALE - 2.5


@dataclass
class Clip:
    """One training clip: ``audio`` (n,) float32, ``labels`` (Ty,) 0/1 and the sample at
    which each inserted trigger word ends (``trigger_ends``)."""

    audio: np.ndarray
    labels: np.ndarray
    trigger_ends: list


def spectrogram(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(frames, 101) features of a clip: Hann windows of NFFT = 200 samples every HOP = 29
    samples (5511 frames for 10 s at 16 kHz), power in dB, scaled to about unit range."""
    pxx, _, _ = mlab.specgram(audio, NFFT=NFFT, Fs=rate, noverlap=NFFT - HOP)
    decibels = 10.0 * np.log10(pxx.T + 1e-10)
    return ((decibels - DB_FLOOR) / DB_SCALE - 2.5).astype(np.float32)


def output_step(sample: int, n_samples: int) -> int:
    """The output step a sample falls in: floor(sample * Ty / n_samples)."""
    return int(sample * TY // n_samples)


def labels_for(trigger_ends: list, n_samples: int) -> np.ndarray:
    """(Ty,) float32: 1 for the LABEL_STEPS steps after each trigger word ends."""
    y = np.zeros(TY, dtype=np.float32)
    for end in trigger_ends:
        first = output_step(end, n_samples) + 1
        y[first : first + LABEL_STEPS] = 1.0
    return y


# ------------------------------------------------------------------ backgrounds
def colored_noise(rng, n: int) -> np.ndarray:
    """n samples of noise with power 1/f^alpha (alpha drawn in [0, 2]), unit RMS."""
    alpha = rng.uniform(0.0, 2.0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (alpha / 2), n=n)
    return noise / np.sqrt(np.mean(noise**2))


def background(rng, bank_words: list, n: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A made background (module docstring), RMS about 1 before levelling."""
    t = np.arange(n) / rate
    swell = 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 6.3))
    audio = colored_noise(rng, n) * swell
    if rng.random() < 0.3:  # mains hum
        base = rng.choice([50.0, 60.0])
        for k in (1, 2, 3):
            audio += rng.uniform(0.1, 0.5) / k * np.sin(2 * np.pi * base * k * t)
    for _ in range(rng.integers(0, 6)):  # babble: words far away
        word = bank_words[rng.integers(len(bank_words))]
        start = rng.integers(0, n - len(word))
        audio[start : start + len(word)] += word / rms(word) * 10 ** (rng.uniform(-10, 0) / 20)
    return audio


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1e-12


# ----------------------------------------------------------------- the clips
class ClipMaker:
    """Makes clips from one split of a word bank (the course's create_training_example).

    Args:
        bank: the words (``nnlab.data.speech.load_word_bank()``).
        split: "train" or "test": which words (and so which voices and speeds) are used.
        seconds: clip length (10, as the course).
    """

    def __init__(self, bank: WordBank, split: str = "train", seconds: float = CLIP_SECONDS):
        self.triggers = bank.select(split, trigger=True)
        self.others = bank.select(split, trigger=False)
        self.rate = bank.rate
        self.n = int(round(seconds * bank.rate))
        if not self.triggers or not self.others:
            raise InputValueError(f"ClipMaker: the bank has no {split!r} words")

    def clip(self, rng) -> Clip:
        """One clip: 0-4 triggers and 0-2 other words over a background."""
        foreground = np.zeros(self.n, dtype=np.float64)
        taken: list[tuple[int, int]] = []
        ends = []
        for words, count in (
            (self.triggers, rng.integers(0, 5)),
            (self.others, rng.integers(0, 3)),
        ):
            for _ in range(count):
                word = words[rng.integers(len(words))]
                start = self._free_start(rng, len(word), taken)
                if start is None:
                    continue
                level = 0.1 * 10 ** (rng.uniform(-6, 6) / 20)  # about -20 dBFS
                foreground[start : start + len(word)] += word / rms(word) * level
                taken.append((start, start + len(word)))
                if words is self.triggers:
                    ends.append(start + len(word) - 1)
        back = background(rng, self.others, self.n, self.rate)
        back *= 0.1 * 10 ** (-rng.uniform(15, 35) / 20)
        audio = np.clip(foreground + back, -1, 1).astype(np.float32)
        return Clip(audio, labels_for(ends, self.n), sorted(ends))

    def _free_start(self, rng, length: int, taken: list, tries: int = 50):
        """A random start at which [start, start + length) overlaps no taken segment (the
        course's get_random_time_segment + is_overlapping); None after ``tries``."""
        for _ in range(tries):
            start = int(rng.integers(0, self.n - length))
            if all(start + length <= lo or start >= hi for lo, hi in taken):
                return start
        return None

    def dataset(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
        """X (count, Tx, 101) float32, Y (count, Ty, 1) and the clips, from ``seed``."""
        rng = np.random.default_rng(seed)
        clips = [self.clip(rng) for _ in range(count)]
        x = np.stack([spectrogram(c.audio, self.rate) for c in clips])
        y = np.stack([c.labels for c in clips])[:, :, None]
        return x, y, clips


# ------------------------------------------------------------------ the chime
def chime(rate: int = SAMPLE_RATE, seconds: float = 0.4) -> np.ndarray:
    """A bell: partials at 1, 2.76 and 5.4 times 880 Hz, each decaying exponentially."""
    t = np.arange(int(rate * seconds)) / rate
    partials = [(1.0, 1.0, 6.0), (2.76, 0.5, 9.0), (5.4, 0.25, 14.0)]
    tone = sum(a * np.exp(-d * t) * np.sin(2 * np.pi * 880.0 * r * t) for r, a, d in partials)
    return (0.3 * tone / np.abs(tone).max()).astype(np.float32)


def add_chimes(audio: np.ndarray, samples: list, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A copy of the audio with a chime starting at each of ``samples`` (the course's
    chime_on_activate writes the chime where the model fires)."""
    out = np.asarray(audio, dtype=np.float32).copy()
    bell = chime(rate)
    for start in samples:
        piece = bell[: max(len(out) - start, 0)]
        out[start : start + len(piece)] += piece
    return np.clip(out, -1.0, 1.0)
