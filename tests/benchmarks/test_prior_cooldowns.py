import numpy as np
import pytest
import torch

from benchmarks.prior_cooldowns import (
    HELD_FACTORS,
    HELD_STARTS,
    LAWS,
    drops,
    growth_rows,
    held_cases,
    held_setup,
    pooled,
    setup_cases,
    wsd_setup,
)
from priors.config import SOURCES, PriorConfig
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


def test_a_cooldown_shape_length_or_noise_the_setup_cannot_draw_is_named():
    with pytest.raises(ValueError, match="shape must be one of"):
        wsd_setup(PriorConfig(), 2400.0, shape="square")
    with pytest.raises(ValueError, match=r"cooldown must be a share of the run in \[0.05, 0.8\], got 0.95"):
        wsd_setup(PriorConfig(), 2400.0, cooldown=0.95)
    with pytest.raises(ValueError, match=r"noise must be a log sd over the range in \[-12.0, -2.0\], got 0.01"):
        wsd_setup(PriorConfig(), 2400.0, noise=0.01)


@pytest.mark.parametrize("noise", [-9.0, -5.5])
def test_the_what_if_setup_draws_the_noise_level_asked_for(noise):
    batch = sample(torch.Generator().manual_seed(1), 64, 170, config=wsd_setup(PriorConfig(), 24000.0, noise=noise))
    residual = (batch.y - batch.y_clean).double()
    span = batch.y_clean.double().amax(dim=1) - batch.y_clean.double().amin(dim=1)
    log_ratio = torch.log(residual.std(dim=1) / span)
    assert float(log_ratio.median()) == pytest.approx(noise, abs=0.3)


def test_one_seed_draws_the_same_curves_at_every_run_length_and_their_cooldown_drop_grows_with_it():
    """The growth table compares each draw with itself at another length: the stable phase must be the same draw."""
    config = PriorConfig()
    short, long = (sample(torch.Generator().manual_seed(3), 24, 170, config=wsd_setup(config, t)) for t in (4000.0, 24000.0))
    cases = [c for c in setup_cases(long, 0.2) if c in setup_cases(short, 0.2)]
    assert len(cases) >= 20
    rows = [i for i, _ in cases]
    before = [start - 10 for _, start in cases]  # well inside the stable phase
    np.testing.assert_allclose(short.y_clean[rows, before].numpy(), long.y_clean[rows, before].numpy(), rtol=0.02)
    assert np.all(drops(long, cases) > drops(short, cases))  # the gain grows with the run's steps


def test_the_growth_table_reads_each_draw_against_itself_at_the_reference_length():
    import lcpfn

    model = lcpfn.load()
    rows = growth_rows(model, PriorConfig(), (4000.0, 24000.0), 12, 0)
    short, reference = ([c.strip() for c in row.strip("|").split("|")] for row in rows)
    assert reference[0] == "24,000" and reference[2] == "1.00"  # a draw's drop over itself
    assert float(short[2]) < 0.9  # the same draws gain less in a shorter run
    assert 0.0 < float(short[3]) < float(reference[3]) < 2.0  # and the network predicts so too


def test_the_whole_prior_s_row_pools_every_source_of_its_band_and_a_law_s_row_only_its_own():
    pits = {("multi_power", 0): [0.1, 0.2], ("progress", 0): [0.3], ("multi_power", 1): [0.9]}
    assert sorted(pooled(pits, 0).tolist()) == [0.1, 0.2, 0.3]
    assert pooled(pits, 0, "multi_power").tolist() == [0.1, 0.2]
    assert pooled(pits, 2).size == 0


def test_the_held_drop_setup_steps_the_lr_down_once_inside_its_window_and_holds_it_on_the_laws_curves():
    config = held_setup(PriorConfig(), 14000.0)
    assert all((w > 0) == (name in LAWS) for name, w in zip(SOURCES, config.source_weights))
    batch = sample(torch.Generator().manual_seed(0), 32, 100, config=config)
    cases = held_cases(batch)
    assert len(cases) == 32
    x, lr = batch.x.double().numpy(), batch.lr.double().numpy()
    for i, after in cases:
        share = lr[i, after:] / lr[i].max()
        assert np.ptp(share) < 1e-6 and HELD_FACTORS[0] - 1e-6 <= share[0] <= HELD_FACTORS[1] + 1e-6  # one drop, held
        before, at = x[i, after - 1] / x[i, -1], x[i, after] / x[i, -1]  # the drop lies between them (points 1 % apart)
        assert HELD_STARTS[0] - 0.02 <= before < HELD_STARTS[1] and HELD_STARTS[0] <= at <= HELD_STARTS[1] + 0.02
    assert np.all(drops(batch, cases) > 0)  # a held drop still lowers the loss to the end
