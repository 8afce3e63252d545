"""Bias / variance diagnosis: which gap between error levels to work on next.

The course compares error rates (fractions in [0, 1]) of one model on its data parts::

    human level  ->  train  ->  train-dev  ->  dev  ->  test

and reads each step as one problem (``GAPS``, the one table of rules and wording):

    ====================  ======================================  ==========
    problem               gap                                     threshold
    ====================  ======================================  ==========
    avoidable bias        train - human                           1.5 points
    variance              train_dev - train (else dev - train)    1.5 points
    data mismatch         dev - train_dev (needs train-dev)       1.5 points
    overfitting to dev    test - dev (needs test)                 1.5 points
    ====================  ======================================  ==========

Human-level error stands in for Bayes error.  Without a train-dev error, variance is
dev - train (train and dev then come from one distribution).

Threshold rule: a gap is a *problem* when it is at least ``threshold`` (1.5 percentage
points).  The course calls 1-point gaps fine (train 15% / dev 16% is "high bias" only;
0.5% / 1% has no problem) and a 2-point gap worth fixing (human 7.5%, train 8%, dev 10%:
"focus on variance"), so the threshold sits between the two, away from rounding noise.
The *dominant* problem is the problem with the largest gap; equal gaps (within 1e-9) go
to the earlier row of the table, so bias comes before variance, as in the course's basic
recipe (fix high bias first, then high variance).  With no problem there is no dominant
one.  Each problem lists the course's next steps.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path

from ..exceptions import InputValueError, ModelFileError

LABELS = {"human": "human level", "train_dev": "train-dev"}  # the rest print as their key
TIE = 1e-9  # gaps closer than this are equal


@dataclass(frozen=True)
class GapRule:
    """One row of the diagnosis table: a gap between two error levels and its remedies.

    The gap is ``error[upper] - error[lower]``, with ``upper`` the first of ``uppers``
    that is known; the gap is skipped when no upper or the lower error is unknown.
    """

    name: str
    title: str
    uppers: tuple[str, ...]
    lower: str
    threshold: float
    remedies: tuple[str, ...]


ARCHITECTURE = "try another architecture / run a hyperparameter search"
GAPS = (
    GapRule(
        "avoidable_bias",
        "avoidable bias",
        ("train",),
        "human",
        0.015,
        (
            "train a bigger network",
            "train longer",
            "use a better optimization algorithm (momentum, RMSprop, Adam)",
            ARCHITECTURE,
        ),
    ),
    GapRule(
        "variance",
        "variance",
        ("train_dev", "dev"),
        "train",
        0.015,
        (
            "get more training data",
            "regularize (L2, dropout)",
            "use data augmentation",
            ARCHITECTURE,
        ),
    ),
    GapRule(
        "data_mismatch",
        "data mismatch",
        ("dev",),
        "train_dev",
        0.015,
        (
            "do manual error analysis to understand how train and dev/test data differ",
            "make the training data more similar to dev/test (artificial data synthesis)",
            "collect more training data like the dev/test data",
        ),
    ),
    GapRule(
        "dev_overfitting",
        "overfitting to dev",
        ("test",),
        "dev",
        0.015,
        ("get a bigger dev set",),
    ),
)


@dataclass(frozen=True)
class Gap:
    """One measured gap: its rule's name, ``upper - lower`` and whether it is a problem."""

    name: str
    title: str
    upper: str
    lower: str
    value: float
    threshold: float
    problem: bool
    remedies: tuple[str, ...]

    @property
    def definition(self) -> str:
        return f"{self.upper} - {self.lower}"


@dataclass(frozen=True)
class Diagnosis:
    """The errors, the gaps between them, the problems and what to do next.

    ``errors`` maps ``human, train, train_dev, dev, test`` to a fraction or ``None``;
    ``gaps`` holds the measured rows of ``GAPS`` in table order; ``dominant`` is the name
    of the problem with the largest gap, ``None`` when there is no problem.
    """

    errors: dict
    gaps: tuple[Gap, ...]
    dominant: str | None

    @property
    def problems(self) -> list[Gap]:
        return [gap for gap in self.gaps if gap.problem]

    def to_dict(self) -> dict:
        """A JSON-able dict: errors, gaps, problems, dominant, recommendations."""
        gaps = {}
        for gap in self.gaps:
            row = asdict(gap)
            del row["name"], row["remedies"]
            gaps[gap.name] = {**row, "definition": gap.definition}
        return {
            "errors": dict(self.errors),
            "gaps": gaps,
            "problems": [gap.name for gap in self.problems],
            "dominant": self.dominant,
            "recommendations": {gap.name: list(gap.remedies) for gap in self.problems},
        }

    def __str__(self) -> str:
        return "\n".join([*self._error_lines(), "", *self._gap_lines(), "", *self._advice()])

    def _error_lines(self) -> list[str]:
        known = [(LABELS.get(k, k), e) for k, e in self.errors.items() if e is not None]
        return ["diagnosis", *(f"  {label + ' error':<18}{e:>8.2%}" for label, e in known)]

    def _gap_lines(self) -> list[str]:
        lines = [f"  {'gap':<20}{'value':>8}  {'problem':<9}definition"]
        for gap in self.gaps:
            flag = "yes" if gap.problem else "no"
            lines.append(f"  {gap.title:<20}{gap.value:>8.2%}  {flag:<9}{gap.definition}")
        return lines

    def _advice(self) -> list[str]:
        if self.dominant is None:
            return ["no dominant problem: every gap is below its threshold"]
        top = next(gap for gap in self.gaps if gap.name == self.dominant)
        lines = [f"dominant problem: {top.title} ({top.definition} = {top.value:.2%})"]
        for gap in sorted(self.problems, key=lambda g: g is not top):
            lines.append(f"next steps for {gap.title}:")
            lines += [f"  - {remedy}" for remedy in gap.remedies]
        return lines


def diagnose(
    train_error,
    dev_error,
    test_error=None,
    train_dev_error=None,
    human_error=0.0,
) -> Diagnosis:
    """Diagnose bias, variance, data mismatch and overfitting to dev from error rates.

    Each gap of ``GAPS`` (see the module docstring)::

        avoidable bias     = train - human
        variance           = train_dev - train   (dev - train without a train-dev error)
        data mismatch      = dev - train_dev     (only with a train-dev error)
        overfitting to dev = test - dev          (only with a test error)

    is a problem when it is at least its threshold; the largest problem is dominant.

    Parameters
    ----------
    train_error, dev_error : float in [0, 1]
        Error rates (1 - accuracy) on the training and dev sets.
    test_error, train_dev_error : float in [0, 1], optional
        Error rates on the test set and on a train-dev set (held out of the training
        distribution, see :func:`nnlab.data.train_dev_split`).
    human_error : float in [0, 1]
        Human-level error, the proxy for Bayes error.

    Raises
    ------
    InputValueError
        An error rate that is not a number in [0, 1], named by its argument.
    """
    errors = {
        "human": _fraction("human_error", human_error),
        "train": _fraction("train_error", train_error),
        "train_dev": _fraction("train_dev_error", train_dev_error, optional=True),
        "dev": _fraction("dev_error", dev_error),
        "test": _fraction("test_error", test_error, optional=True),
    }
    gaps = tuple(gap for rule in GAPS if (gap := _measure(rule, errors)) is not None)
    return Diagnosis(errors, gaps, _dominant(gaps))


def _measure(rule: GapRule, errors: dict) -> Gap | None:
    """The gap of one rule, or None when an error it needs is unknown."""
    upper = next((name for name in rule.uppers if errors[name] is not None), None)
    if upper is None or errors[rule.lower] is None:
        return None
    value = errors[upper] - errors[rule.lower]
    problem = value >= rule.threshold - TIE
    return Gap(
        rule.name, rule.title, upper, rule.lower, value, rule.threshold, problem, rule.remedies
    )


def _dominant(gaps) -> str | None:
    """Name of the problem with the largest gap (the earliest one among equals)."""
    best = None
    for gap in gaps:
        if gap.problem and (best is None or gap.value > best.value + TIE):
            best = gap
    return None if best is None else best.name


def _fraction(name: str, value, optional: bool = False) -> float | None:
    """``value`` as a float in [0, 1]; the error names the argument."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputValueError(f"diagnose: {name} must be an error rate in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:  # also rejects NaN
        raise InputValueError(
            f"diagnose: {name} must be an error rate (a fraction) in [0, 1], got {value!r}"
            + (" (a percentage? divide by 100)" if 1.0 < float(value) <= 100.0 else "")
        )
    return float(value)


# ------------------------------------------------------------------ metrics files
def diagnose_metrics_file(path, human_error=0.0) -> Diagnosis:
    """Diagnose a run from its metrics file (JSON; error = 1 - accuracy).

    The file maps data parts to their metrics, ``{"train": {"accuracy": 0.99, ...},
    "dev": {...}, ...}``; ``train`` and ``dev`` are needed, ``test`` and ``train_dev`` are
    used when present.  A run folder's file is ``RunFolder(run_dir).metrics``.

    Raises
    ------
    ModelFileError
        ``path`` is missing or not JSON.
    InputValueError
        An entry lacks an accuracy, or ``train`` / ``dev`` is missing.
    """
    path = Path(path)
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ModelFileError(f"diagnose: cannot read the run's metrics {path}: {err}") from None
    errors = {
        part: _run_error(metrics, part, path) for part in ("train", "dev", "test", "train_dev")
    }
    return diagnose(
        errors["train"],
        errors["dev"],
        test_error=errors["test"],
        train_dev_error=errors["train_dev"],
        human_error=human_error,
    )


def _run_error(metrics: dict, part: str, path: Path) -> float | None:
    """1 - accuracy of one part of the metrics (None for a missing test/train-dev part)."""
    if part not in metrics and part in ("test", "train_dev"):
        return None
    entry = metrics.get(part) if isinstance(metrics, dict) else None
    accuracy = entry.get("accuracy") if isinstance(entry, dict) else None
    if isinstance(accuracy, bool) or not isinstance(accuracy, numbers.Real):
        raise InputValueError(
            f"diagnose: {path} needs a numeric {part!r} accuracy, got {accuracy!r}"
        )
    return 1.0 - float(accuracy)
