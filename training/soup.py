"""Average the weights of runs continued from one model (a model soup).

``python -m training.soup runs/a/checkpoint.pt runs/b/checkpoint.pt --out runs/soup/checkpoint.pt``

Runs that start from the same weights and train on the same prior with different seeds end in one basin of the loss,
and the mean of their weights predicts about as their ensemble would, at one model's cost (Wortsman et al. 2022,
"Model soups"). Continuations on the CPU move the real-curve figures by about as much from seed to seed as a change of
the prior does; a soup trades a seed's luck for the average of its runs. Two 7,000-step continuations of the shipped
model scored the held-out prior at 10 % 0.262 and 0.263, their soup 0.266, and on the real curves it landed between
them (docs/prior_experiments.md). Each run's averaged weights (``ema``) are used where it kept them. The result is an
ordinary ``checkpoint.pt`` without optimizer state, with its own figures on training's validation set: export it
(``python -m training.export``); its card's ``soup`` field names the runs and their seeds.

Runs must share the model's shape, the prior and the weights they started from (``init_from`` and the curves seen
before): averaging unrelated runs gives a model that predicts nothing.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from training.train import TrainConfig, _save_atomic, curves_of, evaluate, model_of, validation_set

log = logging.getLogger(__name__)


def soup(checkpoints: list[str | Path], out: str | Path) -> dict:
    """Write the weight average of ``checkpoints`` to ``out`` and return it (see the module's docstring)."""
    if len(checkpoints) < 2:
        raise ValueError(f"checkpoints: a soup needs at least 2 runs, got {len(checkpoints)}")
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in checkpoints]
    cfgs = [TrainConfig.from_json(c["config"]) for c in ckpts]
    first = cfgs[0]
    inherited = [int(c.get("inherited_curves", 0)) for c in ckpts]
    for path, cfg, seen_before in zip(checkpoints, cfgs, inherited):
        if cfg.model != first.model:
            raise ValueError(f"checkpoints: {path} has model {cfg.model}, {checkpoints[0]} has {first.model}")
        if cfg.prior != first.prior:
            raise ValueError(f"checkpoints: {path} was trained on another prior than {checkpoints[0]}")
        if not cfg.init_from or cfg.init_from != first.init_from:
            raise ValueError(f"checkpoints: {path} started from {cfg.init_from!r}, {checkpoints[0]} from {first.init_from!r}")
        if seen_before != inherited[0]:
            raise ValueError(f"checkpoints: {path} started from a model that had seen other curves than {checkpoints[0]}'s")
    averaged = {}
    for key in ("model", "ema"):
        states = [c.get(key, c["model"]) for c in ckpts]
        averaged[key] = {name: _mean([s[name] for s in states]) for name in states[0]}
    result = {
        **averaged,
        "step": max(int(c["step"]) for c in ckpts),
        "config": ckpts[0]["config"],
        "inherited_curves": inherited[0],
        # every run's own curves were distinct draws, all on top of the model they started from
        "curves_seen": inherited[0] + sum(curves_of(c) - inherited[0] for c in ckpts),
        "soup": {"runs": [str(p) for p in checkpoints], "seeds": [cfg.seed for cfg in cfgs]},
    }
    # The runs' own validation figures are not the average's; its card gets figures of the same fixed set.
    model, cfg = model_of(result)
    result["validation"] = evaluate(model, validation_set(cfg, torch.device("cpu")), cfg.model.max_context, cfg.limits)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic(result, out)
    log.info("soup of %d runs (seeds %s) written to %s", len(ckpts), result["soup"]["seeds"], out)
    return result


def _mean(tensors: list[torch.Tensor]) -> torch.Tensor:
    if not tensors[0].is_floating_point():  # counters and masks: equal in runs of one shape
        return tensors[0]
    stacked = torch.stack([t.double() for t in tensors])
    return stacked.mean(dim=0).to(tensors[0].dtype)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint.pt files of runs continued from one model")
    p.add_argument("--out", required=True, help="path of the averaged checkpoint.pt")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    soup(args.checkpoints, args.out)


if __name__ == "__main__":
    main()
