"""Spoken words for trigger-word detection: synthesized once with espeak-ng, shipped compact.

The course's trigger-word lab mixes recordings of "activate" and of other words into
10-second backgrounds.  nnlab synthesizes its words with Debian's ``espeak-ng`` (several
accents, voice variants, speeds and pitches) and ships them inside the package, so that
nothing here needs espeak-ng, root or a network:

    src/nnlab/data/files/trigger_words.npz
        audio     (n_samples,) uint8   every word, 8-bit mu-law at SAMPLE_RATE, end to end
        offsets   (n_words + 1,) int64 word i is audio[offsets[i]:offsets[i + 1]]
        words     (n_words,) str       the text spoken
        voices    (n_words,) str       espeak-ng voice, e.g. "en-gb-scotland+f3"
        speeds    (n_words,) int       words per minute
        pitches   (n_words,) int       0..99
        split     (n_words,) str       "train" or "test"

The test words use voice variants and speeds that no training word uses (the held-out
voices of issue 11).  ``scripts/make_trigger_words.py`` regenerates the file where
espeak-ng exists (``apt-get install espeak-ng``, or ``apt-get download`` + ``dpkg -x``).

Mu-law (ITU-T G.711's continuous form, mu = 255) keeps 8 bits a sample with a roughly
constant signal-to-noise ratio, as telephone speech does:

    F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu),   x in [-1, 1]
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..exceptions import InputValueError
from .datasets import DatasetNotFoundError

SAMPLE_RATE = 16_000
MU = 255
TRIGGER = "activate"
WORD_BANK_FILE = "trigger_words.npz"


# ------------------------------------------------------------------- mu-law codec
def mu_law_encode(x: np.ndarray) -> np.ndarray:
    """uint8 codes of samples x in [-1, 1] (clipped): round((F(x) + 1) / 2 * 255)."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    f = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.round((f + 1.0) * 127.5).astype(np.uint8)


def mu_law_decode(codes: np.ndarray) -> np.ndarray:
    """float32 samples in [-1, 1] from uint8 codes: F^-1(y) = sign(y) ((1 + mu)^|y| - 1) / mu."""
    y = np.asarray(codes, dtype=np.float64) / 127.5 - 1.0
    x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU
    return x.astype(np.float32)


# ---------------------------------------------------------------------- WAV files
def read_wav(path) -> tuple[np.ndarray, int]:
    """(samples float32 in [-1, 1], mono, and the sample rate) of a 16-bit PCM WAV file."""
    with wave.open(os.fspath(path) if not hasattr(path, "read") else path, "rb") as f:
        width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
        frames = f.readframes(f.getnframes())
    if width != 2:
        raise InputValueError(f"read_wav: expected 16-bit PCM samples, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return (samples / 32768.0).astype(np.float32), rate


def write_wav(path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono samples in [-1, 1] (clipped) as a 16-bit PCM WAV file."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())


# ------------------------------------------------------------------- synthesis
@dataclass(frozen=True)
class Utterance:
    """One word as espeak-ng says it: ``voice`` is a language with an optional variant
    ("en-us+f3"), ``speed`` words per minute (espeak-ng -s), ``pitch`` 0..99 (-p)."""

    word: str
    voice: str
    speed: int
    pitch: int


def espeak_command() -> str | None:
    """The espeak-ng executable: $ESPEAK_NG, else espeak-ng on the PATH, else None."""
    return os.environ.get("ESPEAK_NG") or shutil.which("espeak-ng")


def synthesize(utterance: Utterance, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The word spoken by espeak-ng, float32 at ``rate``, leading and trailing silence
    trimmed (see ``trim_silence``)."""
    command = espeak_command()
    if command is None:
        raise DatasetNotFoundError(
            "synthesize: espeak-ng not found (apt-get install espeak-ng, or set ESPEAK_NG to "
            "its path); the shipped word bank needs no espeak-ng"
        )
    u = utterance
    args = [command, "-v", u.voice, "-s", str(u.speed), "-p", str(u.pitch), "--stdout", u.word]
    wav = subprocess.run(args, check=True, capture_output=True).stdout
    samples, source_rate = read_wav(io.BytesIO(wav))
    return trim_silence(resample(samples, source_rate, rate))


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """Band-limited resampling by the FFT (a whole word at once): the spectrum is cut or
    zero-padded to the new length, so nothing above the lower Nyquist frequency survives."""
    if source_rate == rate:
        return samples.astype(np.float32)
    n = len(samples)
    new_n = int(round(n * rate / source_rate))
    spectrum = np.fft.rfft(samples)
    out = np.fft.irfft(spectrum[: new_n // 2 + 1], n=new_n) * (new_n / n)
    return out.astype(np.float32)


def trim_silence(samples: np.ndarray, floor_db: float = -40.0, pad: int = 160) -> np.ndarray:
    """The samples from the first to the last one within ``floor_db`` of the peak, with
    ``pad`` samples (10 ms at 16 kHz) of margin each side."""
    peak = np.abs(samples).max()
    if peak == 0:
        return samples
    loud = np.flatnonzero(np.abs(samples) >= peak * 10 ** (floor_db / 20))
    lo, hi = max(loud[0] - pad, 0), min(loud[-1] + pad + 1, len(samples))
    return samples[lo:hi]


# ---------------------------------------------------------------------- the bank
@dataclass(frozen=True)
class WordBank:
    """Words as audio (float32 at ``rate``), with who said them and their split."""

    clips: list
    words: np.ndarray
    voices: np.ndarray
    speeds: np.ndarray
    pitches: np.ndarray
    split: np.ndarray
    rate: int = SAMPLE_RATE

    def select(self, split: str, trigger: bool | None = None) -> list:
        """The clips of ``split`` ("train" or "test"), only the trigger word's (True), only
        the other words' (False) or all (None)."""
        if split not in ("train", "test"):
            raise InputValueError(
                f"WordBank.select: split must be 'train' or 'test', got {split!r}"
            )
        keep = self.split == split
        if trigger is not None:
            keep &= (self.words == TRIGGER) == trigger
        return [self.clips[i] for i in np.flatnonzero(keep)]

    def save(self, path) -> None:
        """Write the bank in the compact format of the module docstring."""
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in self.clips])]).astype(np.int64)
        audio = mu_law_encode(np.concatenate(self.clips)) if self.clips else np.zeros(0, np.uint8)
        np.savez_compressed(
            path,
            audio=audio,
            offsets=offsets,
            words=self.words.astype(str),
            voices=self.voices.astype(str),
            speeds=self.speeds.astype(np.int64),
            pitches=self.pitches.astype(np.int64),
            split=self.split.astype(str),
            rate=np.int64(self.rate),
        )

    @classmethod
    def load(cls, path) -> WordBank:
        """Read a bank written by ``save`` (plain arrays: no pickle, no code runs)."""
        with np.load(path, allow_pickle=False) as f:
            audio, offsets = mu_law_decode(f["audio"]), f["offsets"]
            clips = [audio[lo:hi] for lo, hi in zip(offsets[:-1], offsets[1:], strict=True)]
            return cls(
                clips,
                f["words"],
                f["voices"],
                f["speeds"],
                f["pitches"],
                f["split"],
                int(f["rate"]),
            )

    @classmethod
    def synthesize(cls, utterances: list, splits: list, rate: int = SAMPLE_RATE) -> WordBank:
        """A bank of the utterances spoken by espeak-ng, each with its split."""
        return cls(
            [synthesize(u, rate) for u in utterances],
            np.array([u.word for u in utterances]),
            np.array([u.voice for u in utterances]),
            np.array([u.speed for u in utterances]),
            np.array([u.pitch for u in utterances]),
            np.array(splits),
            rate,
        )


def load_word_bank(path=None) -> WordBank:
    """The shipped word bank (or the one at ``path``)."""
    source = (
        Path(path)
        if path is not None
        else resources.files("nnlab.data").joinpath("files", WORD_BANK_FILE)
    )
    try:
        with resources.as_file(source) as local:
            return WordBank.load(local)
    except FileNotFoundError:
        raise DatasetNotFoundError(
            f"load_word_bank: no word bank at {source}; scripts/make_trigger_words.py makes "
            "it where espeak-ng exists"
        ) from None
