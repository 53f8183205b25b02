"""PyTorch Lightning: stop ``Trainer.fit`` when the run will not beat a given best.

>>> from lightning.pytorch import Trainer  # doctest: +SKIP
>>> Trainer(max_epochs=50, callbacks=[LCPFNEarlyStopping("val_loss", best=0.31, horizon=50)])  # doctest: +SKIP

After each validation, the monitored metric joins the run's history (at the epoch, or
the global step with ``by="step"``); every ``every`` validations the model predicts the
value at ``horizon`` and the callback sets ``trainer.should_stop`` when P(it beats
``best``) < ``threshold``. A NaN or infinite metric (a diverged run) stops at once.
"""

from __future__ import annotations

from lcpfn.early_stopping import EarlyStopper
from lcpfn.errors import require

pl = require("lightning.pytorch", "lightning")


class LCPFNEarlyStopping(pl.Callback):
    def __init__(self, monitor: str, best: float, *, horizon: float, mode: str = "min", by: str = "epoch", every: int = 1,
                 **options):  # fmt: skip
        if by not in ("epoch", "step"):
            raise ValueError(f"by must be 'epoch' or 'step', got {by!r}")
        self.monitor, self.by = monitor, by
        self.stopper = EarlyStopper(horizon, mode, best_so_far=best, every=every, **options)
        self.decision = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self.stopper.reset()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        step = trainer.current_epoch + 1 if self.by == "epoch" else trainer.global_step
        self.decision = self.stopper.update(step, value)
        if self.decision.stop:
            trainer.should_stop = True
