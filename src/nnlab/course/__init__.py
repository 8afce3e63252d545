"""The course-compatible mode: replays the course's ``np.random.seed`` order."""

from .legacy import LegacyGlobalRNG, epoch_seeded_shuffle

__all__ = ["LegacyGlobalRNG", "epoch_seeded_shuffle"]
