"""Extractive QA on bAbI stories with a fine-tuned all-MiniLM-L6-v2 (Course 5, week 4).

    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/qa_babi.py
        [--task1-examples 3000] [--harder-examples 5000] [--epochs 2] [--harder-epochs 3]
        [--runs runs/qa_babi] [--out examples/qa_babi] [--only task1|harder]

Two runs of ``nnlab qa train`` (``nnlab.cli.qa``), the commands printed as they start:

- **task1**: bAbI task 1 ("Where is Mary?", stories of 2 to 10 moves);
- **harder**: tasks 1 to 3 ("Where is the football?", "Where was the football before the
  kitchen?") on stories of 8 to 24 sentences with distractors (``--harder``).

Each is scored (SQuAD exact match and token F1) on 1,000 held-out stories of its own kind
and on 1,000 stories of people and places never trained on; then each model is also scored
on the other run's test stories (by task for the harder ones).  The run folders go to
``--runs`` (``nnlab qa RUN --context ... --question ...`` answers with them); the figures go
to ``--out``/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from nnlab.cli.main import main as nnlab
from nnlab.cli.qa import cpu_name, load_answerer, qa_data

EXAMPLE = (
    "Mary went to the kitchen. John travelled to the garden. Mary picked up the football "
    "there. Mary journeyed to the office. John went back to the bedroom.",
    ["Where is Mary?", "Where is John?", "Where is the football?"],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task1-examples", type=int, default=3000)
    parser.add_argument("--harder-examples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--harder-epochs", type=int, default=3)
    parser.add_argument("--test-examples", type=int, default=1000)
    parser.add_argument("--runs", default="runs/qa_babi")
    parser.add_argument("--out", default="examples/qa_babi")
    parser.add_argument("--only", choices=("task1", "harder"), default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"runs": {}}
    runs = {
        "task1": (args.task1_examples, args.epochs, []),
        "harder": (args.harder_examples, args.harder_epochs, ["--harder"]),
    }
    for name, (examples, epochs, flags) in runs.items():
        if args.only not in (None, name):
            continue
        folder = Path(args.runs) / name
        command = ["qa", "train", *flags, "--examples", str(examples), "--epochs", str(epochs)]
        command += ["--test-examples", str(args.test_examples), "--out", str(folder)]
        print("nnlab " + " ".join(command), flush=True)
        began = time.perf_counter()
        if nnlab(command) != 0:
            raise SystemExit(f"{name}: nnlab qa train failed")
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["command"] = "nnlab " + " ".join(command)
        metrics["total_seconds"] = round(time.perf_counter() - began, 1)
        results["runs"][name] = metrics
    cross_scores(results, args)
    results["cpu"] = cpu_name()
    results["threads"] = os.environ.get("NNLAB_NUM_THREADS", "default")
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {results_path}")


def cross_scores(results: dict, args) -> None:
    """Each trained model on the other run's test stories (the same 1,000), and its answers
    to the example's questions."""
    folders = {name: Path(args.runs) / name for name in ("task1", "harder")}
    done = {n: f for n, f in folders.items() if (f / "model.safetensors").is_file()}
    tests = {n: qa_data(json.loads((f / "settings.json").read_text()))["test"] for n, f in done.items()}  # fmt: skip
    for name, folder in done.items():
        qa, _ = load_answerer(str(folder), "example")
        entry = results["runs"].setdefault(name, {})
        for other, test in tests.items():
            if other != name:
                entry[f"{other}_test"] = scores = qa.evaluate(test)
                print(f"{name} model on the {other} test stories: {json.dumps(scores)}")
        context, questions = EXAMPLE
        answers = dict(
            zip(questions, qa.answer(questions, [context] * len(questions)), strict=True)
        )
        entry["example"] = {"context": context, **answers}
        print(f"{name} model: {answers}")


if __name__ == "__main__":
    main()
