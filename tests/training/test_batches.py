import dataclasses

import torch

from priors.config import PriorConfig
from priors.sample import sample
from training.batches import stalled_context, stalled_first


def _curves(n=400, points=30, seed=0):
    cfg = PriorConfig(p_bounds_known=1.0)
    return sample(torch.Generator().manual_seed(seed), n, points, config=cfg)


def test_a_loss_creeping_at_chance_is_stalled_and_one_halfway_down_is_not():
    c = _curves(2)
    c = dataclasses.replace(
        c,
        y=torch.tensor([[2.30, 2.29, 2.28] + [1.0] * 27, [2.30, 1.8, 1.2] + [0.5] * 27]),
        direction=torch.tensor([-1.0, -1.0]),
        lower=torch.tensor([0.0, 0.0]),
        upper=torch.tensor([torch.inf, torch.inf]),
    )
    assert stalled_context(c, 3, 0.05).tolist() == [True, False]


def test_curves_without_a_known_best_limit_are_never_stalled():
    c = _curves()
    hidden = dataclasses.replace(c, lower=torch.full_like(c.lower, -torch.inf), upper=torch.full_like(c.upper, torch.inf))
    assert stalled_context(c, 5, 0.05).any()
    assert not stalled_context(hidden, 5, 0.05).any()


def test_stalled_first_takes_its_share_of_stalled_contexts():
    c = _curves()
    n_ctx, size = 5, 64
    natural = stalled_context(c, n_ctx, 0.05)[:size].float().mean()
    chosen = stalled_first(c, n_ctx, size, 0.5, 0.05)
    share = stalled_context(chosen, n_ctx, 0.05).float().mean()
    assert len(chosen) == size
    assert share >= 0.5 > natural


def test_the_choice_never_looks_past_the_context():
    # Oversampling by the context leaves the future's distribution given a context as the prior's (what the PFN
    # learns): the same rows are chosen whatever the points after the cut are.
    c = _curves()
    n_ctx = 6
    future_changed = c.y.clone()
    future_changed[:, n_ctx:] = torch.randn_like(future_changed[:, n_ctx:]) * 100
    a = stalled_first(c, n_ctx, 64, 0.4, 0.05)
    b = stalled_first(dataclasses.replace(c, y=future_changed), n_ctx, 64, 0.4, 0.05)
    torch.testing.assert_close(a.y[:, :n_ctx], b.y[:, :n_ctx], rtol=0, atol=0)
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)
