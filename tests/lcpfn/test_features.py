import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lcpfn.features import (
    FLAT_RESOLUTION,
    N_TOKEN_FEATURES,
    TOKEN_FEATURES,
    location_scale,
    normalized_bounds,
    subsample_context,
    to_lower_better,
    token_features,
)


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(-1e3, 1e3), st.integers(2, 40))
def test_normalized_values_are_invariant_to_affine_maps(a, b, n):
    y = np.random.default_rng(n).standard_normal((1, n)).cumsum(1)
    # A context whose values differ by rounding alone is a constant one, whatever map made it so.
    assume(np.ptp(a * y) > 10 * FLAT_RESOLUTION * np.abs(a * y + b).max())
    loc, scale = location_scale(y)
    loc2, scale2 = location_scale(a * y + b)
    np.testing.assert_allclose((a * y + b - loc2) / scale2, (y - loc) / scale, atol=1e-6 * (1 + abs(b) / a))


def test_constant_context_gets_a_positive_scale():
    for y in (np.full((1, 5), 3.0), np.zeros((1, 1))):
        _, scale = location_scale(y)
        assert scale[0, 0] > 0


def test_a_context_flat_up_to_rounding_is_scaled_as_a_constant_one():
    level = 2.302585  # a loss stuck at ln 10
    for xp, conv in ((np, np.asarray), (torch, torch.tensor)):
        flat = conv(np.full((1, 6), level))
        rounded = conv(level + level * 1e-8 * np.array([[0.0, 1.0, -1.0, 2.0, 0.0, 1.0]]))
        moving = conv(level + level * 1e-4 * np.array([[0.0, 1.0, -1.0, 2.0, 0.0, 1.0]]))
        np.testing.assert_allclose(float(location_scale(rounded, xp=xp)[1][0, 0]), 0.01 * level, rtol=1e-6)
        np.testing.assert_allclose(float(location_scale(flat, xp=xp)[1][0, 0]), 0.01 * level, rtol=1e-6)
        assert float(location_scale(moving, xp=xp)[1][0, 0]) < 1e-3 * level


def test_numpy_and_torch_features_agree():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 12))
    direction = np.array([1.0, -1.0, 1.0, -1.0])
    lower, upper = np.array([0.0, -np.inf, -np.inf, 0.0]), np.array([1.0, np.inf, 5.0, np.inf])
    steps = np.array([1.0, 50.0, 4000.0, 1e9])
    outs = []
    for xp, conv in ((np, np.asarray), (torch, torch.tensor)):
        yl = to_lower_better(conv(y), conv(direction), xp=xp)
        loc, scale = location_scale(yl, xp=xp)
        best, worst = normalized_bounds(conv(lower), conv(upper), conv(direction), loc, scale, xp=xp)
        t = conv(np.linspace(0.1, 1, 12)[None].repeat(4, 0))
        known = conv(np.array([True, False, True, False]))
        f = token_features(
            t, t, t, t * 0.1, known, conv(np.array([True, True, False, False])), best, worst, steps=conv(steps), xp=xp
        )
        outs.append(np.asarray(f))
    assert outs[0].shape == (4, 12, N_TOKEN_FEATURES)
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-12)


def test_flipped_bounds_follow_the_direction():
    loc, scale = np.zeros((1, 1)), np.ones((1, 1))
    best, worst = normalized_bounds(np.array([0.0]), np.array([1.0]), np.array([1.0]), loc, scale)
    assert (best[0, 0], worst[0, 0]) == (-1.0, 0.0)  # accuracy: the best value 1 becomes -1 after the flip


def test_unknown_schedule_and_horizon_hide_their_features():
    t = np.linspace(0.1, 1, 5)[None]
    inf = np.full((1, 1), np.inf)
    f = token_features(t, t, t, t, np.array([False]), np.array([False]), -inf, inf, steps=np.array([1.0]))[0]
    assert np.all(f[:, 2:] == 0)
    g = token_features(t, t, t, t, np.array([False]), np.array([True]), -inf, inf, steps=np.array([1.0]))[0]
    assert np.all(g[:, TOKEN_FEATURES.index("horizon_known")] == 1)


def test_run_length_in_steps_is_read_on_a_log_scale_clipped_to_the_prior():
    t = np.linspace(0.1, 1, 3)[None].repeat(4, 0)
    none, inf = np.zeros(4, bool), np.full((4, 1), np.inf)
    f = token_features(t, t, t, t, none, none, -inf, inf, steps=np.array([0.5, 1000.0, 1e6, 1e9]))
    col = f[:, :, TOKEN_FEATURES.index("log_steps")]
    np.testing.assert_allclose(col, np.array([[0.0], [0.5], [1.0], [1.0]]).repeat(3, 1))


def test_subsampling_keeps_the_latest_points_and_the_first():
    idx = subsample_context(10_000, 128)
    assert len(idx) == 128 and idx[0] == 0 and idx[-1] == 9_999
    assert np.all(np.diff(idx) > 0)
    assert list(idx[-16:]) == list(range(10_000 - 16, 10_000))
