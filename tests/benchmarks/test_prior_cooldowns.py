import numpy as np
import pytest
import torch

from benchmarks.prior_cooldowns import setup_cases, wsd_setup
from priors.config import PriorConfig
from priors.sample import sample


@pytest.mark.parametrize(("shape", "lr_half_way"), [("linear", 0.5), ("1-sqrt", 1.0 - 0.5**0.5)])
def test_the_what_if_setup_draws_the_cooldown_shape_and_length_asked_for(shape, lr_half_way):
    config = wsd_setup(PriorConfig(), 2400.0, shape=shape, cooldown=0.4)
    batch = sample(torch.Generator().manual_seed(0), 16, 170, config=config)
    cases = setup_cases(batch, 0.4)
    assert len(cases) == 16  # every row holds its peak to 60 % of the run, then decays
    x, lr = batch.x.double().numpy(), batch.lr.double().numpy()
    for i, start in cases:
        half_way = np.searchsorted(x[i], x[i, start - 1] + 0.5 * (x[i, -1] - x[i, start - 1]))
        assert lr[i, half_way] / lr[i].max() == pytest.approx(lr_half_way, abs=0.03)
        assert lr[i, -1] == pytest.approx(0.0, abs=1e-6 * lr[i].max())


def test_a_cooldown_shape_or_length_the_setup_cannot_draw_is_named():
    with pytest.raises(ValueError, match="shape must be one of"):
        wsd_setup(PriorConfig(), 2400.0, shape="square")
    with pytest.raises(ValueError, match=r"cooldown must be a share of the run in \[0.05, 0.8\], got 0.95"):
        wsd_setup(PriorConfig(), 2400.0, cooldown=0.95)
