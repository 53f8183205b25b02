"""Does fine-tuning on your own runs help on a task it has not seen? `python benchmarks/finetune_rotation.py`

On ``tests/data/torch_real_dev.jsonl.gz`` (a copy of ``../shared/data``'s: small MLPs on
three tasks), for each task in turn: fine-tune the shipped model on the other two
tasks' runs (``training.finetune``: its best checkpoint chosen on a held-out fifth of
those two tasks, never on the third), then score the third task before and after:
log-likelihood and 90 % coverage of the remaining points at cutoffs 10/20/40/80 %.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

import lcpfn
from training.evaluate import CUTOFFS, pfn, real_curves, score
from training.export import export
from training.finetune import FinetuneConfig, finetune

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "torch_real_dev.jsonl.gz"
BASE = ROOT / "lcpfn" / "models" / "default.safetensors"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--data", default=str(DATA))
    args = p.parse_args()
    with gzip.open(args.data, "rt") as f:
        records = [json.loads(line) for line in f]
    tasks = sorted({r["group"] for r in records})
    base = lcpfn.load()
    print(f"base: {base.name}; fine-tuning {args.steps} steps on two tasks, scoring the third\n")
    print("| held-out task | model | " + " | ".join(f"ll {int(c * 100)} %" for c in CUTOFFS) + " | "
          + " | ".join(f"cover90 {int(c * 100)} %" for c in CUTOFFS) + " |")  # fmt: skip
    print("|---|---|" + "---|" * (2 * len(CUTOFFS)))
    for task in tasks:
        with tempfile.TemporaryDirectory() as tmp:
            train_file = Path(tmp) / "train.jsonl.gz"
            with gzip.open(train_file, "wt") as f:
                f.writelines(json.dumps(r) + "\n" for r in records if r["group"] != task)
            test_file = Path(tmp) / "test.jsonl.gz"
            with gzip.open(test_file, "wt") as f:
                f.writelines(json.dumps(r) + "\n" for r in records if r["group"] == task)
            best = finetune(BASE, train_file, Path(tmp) / "ft", config=FinetuneConfig(steps=args.steps))
            export(best, Path(tmp) / "ft.onnx")
            tuned = lcpfn.load(Path(tmp) / "ft.onnx")
            curves = real_curves(test_file)
            for name, model in (("shipped", base), ("fine-tuned", tuned)):
                r = score(curves, pfn(model))
                cells = [f"{r[c]['ll']:.3f}" for c in CUTOFFS] + [f"{r[c]['cover90']:.3f}" for c in CUTOFFS]
                print(f"| {task} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
