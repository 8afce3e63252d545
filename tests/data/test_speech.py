"""The shipped word bank, mu-law, WAV files, resampling and trimming."""

import numpy as np
import pytest

from nnlab.data import speech
from nnlab.data.speech import (
    SAMPLE_RATE,
    TRIGGER,
    Utterance,
    WordBank,
    load_word_bank,
    mu_law_decode,
    mu_law_encode,
    read_wav,
    resample,
    trim_silence,
    write_wav,
)


def test_mu_law_by_hand():
    # F(x) = sign(x) ln(1 + 255|x|) / ln(256); code = round((F + 1) * 127.5)
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    f_half = np.log(1 + 127.5) / np.log(256)
    expected = [0, 128, round((f_half + 1) * 127.5), 255, 255]
    assert mu_law_encode(x).tolist() == expected
    assert mu_law_decode(np.array([0, 255])).tolist() == [-1.0, 1.0]


def test_mu_law_round_trip_keeps_relative_error_small():
    x = np.random.default_rng(0).uniform(-1, 1, 10_000)
    back = mu_law_decode(mu_law_encode(x))
    loud = np.abs(x) > 0.01  # mu-law: error grows with the amplitude
    assert np.max(np.abs(back[loud] - x[loud]) / np.abs(x[loud])) < 0.04
    assert np.max(np.abs(back - x)) < 0.025  # about ln(256) / 255 at full scale


def test_wav_round_trip(tmp_path):
    x = np.sin(np.linspace(0, 100, 4000)).astype(np.float32) * 0.5
    write_wav(tmp_path / "a.wav", x, 8000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000
    np.testing.assert_allclose(back, x, atol=1 / 32767)


def test_resample_keeps_a_tone_and_drops_what_lies_above_nyquist():
    t = np.arange(22050) / 22050
    x = np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 10_000 * t)  # 10 kHz > 8 kHz
    y = resample(x.astype(np.float32), 22050, SAMPLE_RATE)
    assert len(y) == SAMPLE_RATE
    power = np.abs(np.fft.rfft(y)) ** 2
    assert np.argmax(power) == 1000  # 1 Hz bins over one second
    np.testing.assert_allclose(
        y, np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE), atol=1e-3
    )


def test_trim_silence_keeps_the_loud_part_with_margins():
    x = np.zeros(10_000, dtype=np.float32)
    x[3000:5000] = 0.5
    x[100] = 0.001  # -54 dB under the peak: silence
    y = trim_silence(x, floor_db=-40, pad=160)
    assert len(y) == 2000 + 2 * 160
    assert y[160] == 0.5 and y[159] == 0


def test_shipped_bank_holds_out_voices_and_speeds():
    bank = load_word_bank()
    assert bank.rate == SAMPLE_RATE
    train, test = bank.split == "train", bank.split == "test"
    assert (bank.words[train] == TRIGGER).sum() >= 100
    assert (bank.words[test] == TRIGGER).sum() >= 40
    assert len(set(bank.words[train]) - {TRIGGER}) >= 20
    variants = [{v.partition("+")[2] for v in bank.voices[part]} for part in (train, test)]
    assert not variants[0] & variants[1], "a test voice variant is used in training"
    assert not set(bank.speeds[train]) & set(bank.speeds[test])
    lengths = np.array([len(c) for c in bank.clips]) / bank.rate
    assert 0.3 < lengths.min() and lengths.max() < 1.5  # words, trimmed
    assert all(np.abs(c).max() > 0.1 for c in bank.clips)  # none silent


def test_bank_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (300, 500)]
    bank = WordBank(
        clips,
        np.array(["activate", "hello"]),
        np.array(["en-us", "en-gb+f2"]),
        np.array([150, 120]),
        np.array([50, 40]),
        np.array(["train", "test"]),
    )
    bank.save(tmp_path / "bank.npz")
    back = load_word_bank(tmp_path / "bank.npz")
    assert [len(c) for c in back.clips] == [300, 500]
    np.testing.assert_allclose(back.clips[1], clips[1], atol=0.01)
    assert back.select("test")[0].shape == (500,)
    assert back.voices.tolist() == ["en-us", "en-gb+f2"]


def test_missing_bank_and_bad_split_say_what_is_wrong(tmp_path):
    with pytest.raises(speech.DatasetNotFoundError, match="make_trigger_words"):
        load_word_bank(tmp_path / "none.npz")
    with pytest.raises(speech.InputValueError, match="split must be"):
        load_word_bank().select("dev")


@pytest.mark.skipif(speech.espeak_command() is None, reason="espeak-ng is not installed")
def test_synthesize_with_espeak():
    x = speech.synthesize(Utterance("activate", "en-us", 150, 50))
    assert 0.3 < len(x) / SAMPLE_RATE < 1.5 and np.abs(x).max() > 0.1
