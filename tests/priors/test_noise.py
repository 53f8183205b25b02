import torch

from priors.config import NoiseConfig
from priors.noise import (
    EVENTS_UNIFORMS,
    WARP_UNIFORMS,
    Warp,
    creep_path,
    events_from_uniform,
    noise_gain,
    warp_from_uniform,
    warp_time,
)


def test_slow_starts_creep_for_their_delay_then_run_at_full_speed():
    """``p_slow_start`` of the curves, and no others, run at ``slow_start_creep`` of their speed until
    ``slow_start_delay`` has passed, then at full speed from where they got to; the plateau starts no earlier than
    ``plateau_start`` says."""
    cfg = NoiseConfig(p_slow_start=0.25, slow_start_delay=(0.1, 0.2), slow_start_creep=(0.01, 0.3), plateau_start=(0.15, 0.7))
    g = torch.Generator().manual_seed(0)
    warp = warp_from_uniform(torch.rand(20000, WARP_UNIFORMS, generator=g), cfg)
    delayed = warp.delay[:, 0] > 0
    assert abs(delayed.float().mean().item() - 0.25) < 0.015
    assert warp.delay[delayed].min() >= 0.1 and warp.delay[delayed].max() <= 0.2
    assert warp.creep.min() >= 0.01 and warp.creep.max() <= 0.3
    assert warp.start.min() >= 0.15
    u = torch.linspace(0.0, 1.0, 101).expand(len(delayed), -1)
    warped = warp_time(u, warp)
    creep = warp.creep[delayed]
    torch.testing.assert_close(warped[delayed, :11], creep * u[delayed, :11])  # u <= 0.1: creeping
    assert torch.all(warped[~delayed, :11] == u[~delayed, :11])  # the others run on their own time there
    # Past the delay, on curves without a plateau: full speed, from where the creep got to.
    running = delayed & (warp.length[:, 0] == 0)
    speed = (warped[running, 22] - warped[running, 21]) / (u[0, 22] - u[0, 21])
    torch.testing.assert_close(speed, torch.ones_like(speed), atol=1e-4, rtol=0)
    assert torch.all(warped[delayed, -1] < 1.0)  # ... and a slow start shifts the rest of the curve later


def test_schedule_law_curves_stall_and_fall_apart_at_their_own_rarer_rates():
    """LLM-like curves (``law=True``) take ``p_slow_start_law``, ``p_plateau_law``, ``p_divergence_law`` and
    ``p_overfit_law``; the small networks' rates leave them alone."""
    cfg = NoiseConfig(p_slow_start=0.3, p_plateau=0.3, p_divergence=0.3, p_overfit=0.3,
                      p_slow_start_law=0.05, p_plateau_law=0.1, p_divergence_law=0.15, p_overfit_law=0.2)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    warp_u, events_u = torch.rand(40000, WARP_UNIFORMS, generator=g), torch.rand(40000, EVENTS_UNIFORMS, generator=g)
    for law, rates in ((True, (0.05, 0.1, 0.15, 0.2)), (False, (0.3, 0.3, 0.3, 0.3))):
        warp = warp_from_uniform(warp_u, cfg, law=law)
        events = events_from_uniform(events_u, cfg, True, law=law)
        shares = [(warp.delay > 0).float().mean(), (warp.length > 0).float().mean(), events.diverges.float().mean(),
                  events.overfits.float().mean()]  # fmt: skip
        for share, rate in zip(shares, rates):
            assert abs(share.item() - rate) < 0.01, (law, shares, rates)


def _one_slow_start(delay: float, shape: float, quiet: float) -> Warp:
    def one(v):
        return torch.full((1, 1), v)

    return Warp(delay=one(delay), creep=one(0.05), start=one(0.0), length=one(0.0), creep_shape=one(shape), quiet=one(quiet))


def test_a_slow_start_creeps_steadily_from_its_first_value_to_where_it_breaks_out():
    """At ``creep_shape`` 1 a slow start's values fall linearly in time from the curve's first value to its value at the
    first point past the delay (a network leaving its initial loss: 2.312, 2.306, 2.299, 2.289, 2.272 over a real MLP's
    five warmup epochs, then 0.17 at the end), not held and then bent; past the delay the curve is untouched."""
    u = torch.linspace(0.0, 1.0, 11)[None]
    y = 2.3 * torch.exp(-3.0 * u)  # concave: steepest at its start
    path = creep_path(u, y, _one_slow_start(0.35, 1.0, 1.0))
    end = 4  # u = 0.4, the first point past the delay
    torch.testing.assert_close(path[0, :end], y[0, 0] + (y[0, end] - y[0, 0]) * u[0, :end] / u[0, end])
    torch.testing.assert_close(path[0, end:], y[0, end:])
    steps = torch.diff(path[0, : end + 1])
    torch.testing.assert_close(steps, steps.mean().expand_as(steps))  # steady


def test_a_steeper_creep_shape_speeds_up_through_the_slow_start():
    """Above 1 the creep falls faster and faster, as real creepers do before they break out, and still ends where the
    curve takes over."""
    u = torch.linspace(0.0, 1.0, 11)[None]
    y = 1.0 - 0.5 * u
    path = creep_path(u, y, _one_slow_start(0.55, 1.5, 1.0))
    falls = -torch.diff(path[0, :7])
    assert torch.all(torch.diff(falls) > 0)
    torch.testing.assert_close(path[0, 6:], y[0, 6:])


def test_a_slow_start_s_noise_is_quiet_while_it_creeps_and_full_after():
    """A network that has not started barely changes its outputs: the noise's factor is ``quiet`` inside the delay, 1
    after it; curves without a slow start (delay 0) keep their noise everywhere."""
    u = torch.linspace(0.0, 1.0, 11)[None]
    gain = noise_gain(u, _one_slow_start(0.35, 1.0, 0.1))
    torch.testing.assert_close(gain[0, :4], torch.full((4,), 0.1))
    torch.testing.assert_close(gain[0, 4:], torch.ones(7))
    assert torch.all(noise_gain(u, _one_slow_start(0.0, 1.0, 0.1)) == 1.0)
    cfg = NoiseConfig(slow_start_shape=(1.0, 1.5), slow_start_quiet=(0.05, 1.0))
    warp = warp_from_uniform(torch.rand(5000, WARP_UNIFORMS, generator=torch.Generator().manual_seed(2)), cfg)
    assert warp.creep_shape.min() >= 1.0 and warp.creep_shape.max() <= 1.5
    assert warp.quiet.min() >= 0.05 and warp.quiet.max() <= 1.0
