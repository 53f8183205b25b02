import torch

from priors.config import NoiseConfig
from priors.noise import WARP_UNIFORMS, warp_from_uniform, warp_time


def test_slow_starts_hold_their_share_of_curves_at_the_first_value_for_their_delay():
    """``p_slow_start`` of the curves, and no others, stay at their first logged value until ``slow_start_delay`` has
    passed; the plateau starts no earlier than ``plateau_start`` says."""
    cfg = NoiseConfig(p_slow_start=0.25, slow_start_delay=(0.1, 0.2), plateau_start=(0.15, 0.7))
    g = torch.Generator().manual_seed(0)
    warp = warp_from_uniform(torch.rand(20000, WARP_UNIFORMS, generator=g), cfg)
    delayed = warp.delay[:, 0] > 0
    assert abs(delayed.float().mean().item() - 0.25) < 0.015
    assert warp.delay[delayed].min() >= 0.1 and warp.delay[delayed].max() <= 0.2
    assert warp.start.min() >= 0.15
    u = torch.linspace(0.0, 1.0, 101).expand(len(delayed), -1)
    warped = warp_time(u, warp)
    assert torch.all(warped[delayed, :11] == 0.0)  # u <= 0.1: held at the first point
    assert torch.all(warped[~delayed, :11] == u[~delayed, :11])  # the others run on their own time there
    assert torch.all(warped[delayed, -1] < 1.0)  # ... and a slow start shifts the rest of the curve later
