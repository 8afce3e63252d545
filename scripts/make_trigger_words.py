"""Synthesize the trigger-word bank (src/nnlab/data/files/trigger_words.npz) with espeak-ng.

Run once where espeak-ng exists; everything else reads the shipped file:

    python scripts/make_trigger_words.py            # espeak-ng on the PATH, or ESPEAK_NG=...

Without root, Debian's packages unpack anywhere (apt-get download espeak-ng espeak-ng-data
libespeak-ng1 libpcaudio0 libsonic0 and their libraries; dpkg -x each into ROOT), then
ESPEAK_NG=ROOT/usr/bin/espeak-ng, ESPEAK_DATA_PATH=ROOT/usr/lib/x86_64-linux-gnu/espeak-ng-data
and LD_LIBRARY_PATH=ROOT/usr/lib/x86_64-linux-gnu.

Training words and test words differ in voice variant and speed (never in the same ones),
so test clips are spoken by voices and at speeds the model never heard.  Accents and
pitches are drawn from the same ranges for both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnlab.data.speech import TRIGGER, WORD_BANK_FILE, Utterance, WordBank

ACCENTS = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
]
VARIANTS = {
    "train": ["", "m1", "m2", "m3", "m5", "m6", "m7", "f1", "f2", "f3", "f5"],
    "test": ["m4", "f4", "m8"],
}
SPEEDS = {"train": [115, 140, 165, 190], "test": [128, 178]}
# other words: some share sounds with "activate", most are everyday words
OTHER_WORDS = [
    "active",
    "motivate",
    "captain",
    "cultivate",
    "vacation",
    "hello",
    "weather",
    "music",
    "computer",
    "window",
    "morning",
    "table",
    "seven",
    "yellow",
    "garden",
    "pizza",
    "turtle",
    "basket",
    "river",
    "banana",
    "paper",
    "travel",
    "robot",
    "coffee",
]
COUNTS = {"train": (160, 6), "test": (60, 3)}  # (triggers, utterances per other word)


def utterances(split: str, rng) -> list[Utterance]:
    n_trigger, per_word = COUNTS[split]
    words = [TRIGGER] * n_trigger + [w for w in OTHER_WORDS for _ in range(per_word)]
    result = []
    for word in words:
        variant = rng.choice(VARIANTS[split])
        voice = rng.choice(ACCENTS) + (f"+{variant}" if variant else "")
        result.append(
            Utterance(word, voice, int(rng.choice(SPEEDS[split])), int(rng.integers(25, 76)))
        )
    return result


def main() -> None:
    rng = np.random.default_rng(2026)
    said, splits = [], []
    for split in ("train", "test"):
        batch = utterances(split, rng)
        said += batch
        splits += [split] * len(batch)
    bank = WordBank.synthesize(said, splits)
    out = Path(__file__).resolve().parents[1] / "src/nnlab/data/files" / WORD_BANK_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    bank.save(out)
    seconds = sum(len(c) for c in bank.clips) / bank.rate
    print(f"{len(said)} words, {seconds:.0f} s of speech -> {out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
