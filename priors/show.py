"""Draw a grid of prior samples with their schedules: ``python -m priors.show --out docs/prior.png [--prior my_prior.json]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def draw(path: Path, *, rows: int = 4, cols: int = 5, n_points: int = 100, seed: int = 0, config=None) -> Path:
    """Save a ``rows x cols`` grid of curves drawn from :func:`priors.sample.sample` (under ``config``, a
    :class:`~priors.config.PriorConfig`, default the default prior) to ``path``."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("priors.show needs matplotlib: pip install 'lcpfn-sched[plot]'") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from priors.config import SOURCES
    from priors.sample import sample

    g = torch.Generator().manual_seed(seed)
    batch = sample(g, rows * cols, n_points, **({"config": config} if config is not None else {}))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        x, y, clean = batch.x[i].numpy(), batch.y[i].numpy(), batch.y_clean[i].numpy()
        ax.plot(x, y, ".", ms=2, color="tab:blue", alpha=0.6)
        ax.plot(x, clean, "-", lw=1, color="tab:blue")
        source = SOURCES[int(batch.source[i])]
        known = "schedule known" if bool(batch.known_schedule[i]) else "schedule unknown"
        direction = "max" if float(batch.direction[i]) > 0 else "min"
        ax.set_title(f"{source} ({direction}, {known})", fontsize=8)
        ax.tick_params(labelsize=6)
        if source not in ("families", "lcpfn"):
            lr_ax = ax.twinx()
            lr_ax.plot(x, batch.lr[i].numpy(), color="tab:orange", lw=1, alpha=0.8)
            lr_ax.set_ylim(0, 1.05)
            lr_ax.tick_params(labelsize=6, colors="tab:orange")
    fig.suptitle("Prior samples: observed (dots), before noise (line), lr / peak (orange)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("wrote %s", path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/prior.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--cols", type=int, default=5)
    parser.add_argument("--prior", type=Path, help="JSON of PriorConfig fields to draw from (the rest default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = None
    if args.prior is not None:
        import json

        from priors.config import PriorConfig
        from priors.config_json import ConfigError, config_from_json

        try:
            config = config_from_json(PriorConfig, json.loads(args.prior.read_text()), where="prior.")
        except (OSError, ValueError, ConfigError) as e:
            parser.error(f"{args.prior}: {e}")
    draw(args.out, rows=args.rows, cols=args.cols, seed=args.seed, config=config)


if __name__ == "__main__":
    main()
