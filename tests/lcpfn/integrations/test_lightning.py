"""The Lightning callback stops a real Trainer.fit that cannot beat the given best."""

import pytest

pl = pytest.importorskip("lightning.pytorch")
import torch  # noqa: E402

from lcpfn.integrations.lightning import LCPFNEarlyStopping  # noqa: E402

pytestmark = pytest.mark.slow


class _Regression(pl.LightningModule):
    def __init__(self, lr: float):
        super().__init__()
        self.lr, self.layer = lr, torch.nn.Linear(8, 1)
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(256, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g) + 0.3 * torch.randn(256, 1, generator=g)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def _loader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.x, self.y), batch_size=64)

    def train_dataloader(self):
        return self._loader()

    def val_dataloader(self):
        return self._loader()


def _fit(callback, epochs=40):
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(_Regression(lr=1e-3))
    return trainer


def test_a_run_that_cannot_beat_the_best_is_stopped():
    callback = LCPFNEarlyStopping("val_loss", best=0.05, horizon=40, bounds=(0, None), min_points=5)
    trainer = _fit(callback)
    assert trainer.current_epoch < 40 and callback.decision.stop


def test_a_run_that_can_beat_the_best_goes_on():
    callback = LCPFNEarlyStopping("val_loss", best=100.0, horizon=10, bounds=(0, None), min_points=5)
    trainer = _fit(callback, epochs=10)
    assert trainer.current_epoch == 10 and not callback.decision.stop
