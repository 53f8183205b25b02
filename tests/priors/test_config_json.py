import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from priors.config import PriorConfig
from priors.config_json import ConfigError, config_from_json, config_to_json


def test_every_default_round_trips_through_json():
    cfg = PriorConfig()
    assert config_from_json(PriorConfig, json.loads(config_to_json(cfg))) == cfg


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(4, 256), st.floats(0.01, 0.6))
def test_partial_files_override_only_what_they_name(p_spike, p_known, grid, cooldown_low):
    data = {"noise": {"p_spike": p_spike}, "p_known_schedule": p_known, "grid_size": grid,
            "schedule": {"wsd_cooldown": [cooldown_low, 0.6]}}  # fmt: skip
    cfg = config_from_json(PriorConfig, data)
    assert cfg.noise.p_spike == p_spike and cfg.p_known_schedule == p_known and cfg.grid_size == grid
    assert cfg.schedule.wsd_cooldown == (cooldown_low, 0.6)
    assert cfg.noise.p_outliers == PriorConfig().noise.p_outliers and cfg.logging == PriorConfig().logging
    assert config_from_json(PriorConfig, json.loads(config_to_json(cfg))) == cfg


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nosie": {}}, "nosie is not a setting of PriorConfig"),
        ({"noise": {"p_spik": 0.1}}, "noise.p_spik is not a setting of NoiseConfig"),
        ({"noise": {"p_spike": 1.5}}, r"noise.p_spike must be in \[0, 1\], got 1.5"),
        ({"p_affine": "half"}, "p_affine must be a finite number"),
        ({"grid_size": 2}, r"grid_size must be in \[4, 256\], got 2"),
        ({"grid_size": 3.5}, "grid_size must be an integer"),
        ({"law_horizon": [1000, 10]}, r"law_horizon is a range \[low, high\]: needs low <= high"),
        ({"quantized_n": [0, 100]}, "quantized_n is a log-uniform range: needs low > 0"),
        ({"source_weights": [1, 1]}, "source_weights must be a list of 6 numbers"),
        ({"source_weights": [1, -1, 0, 0, 0, 0]}, "source_weights must be 6 non-negative weights"),
        ({"schedule": {"max_drops": 9}}, "max_drops must be in"),
        ({"logging": []}, "logging must be a JSON object"),
        ({"laws": {"multi_power_C": [0, 3000]}}, "laws.multi_power_C is a log-uniform range: needs low > 0"),
    ],
)
def test_bad_settings_name_the_key_and_the_allowed_range(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_json(PriorConfig, data)


def test_law_priors_are_settings_of_the_prior_and_reach_the_sampler():
    import torch

    from priors.config import SOURCES
    from priors.laws import SCHEDULE_LAWS, schedule_law_priors
    from priors.parameters import LogNormal, LogUniform
    from priors.sample import sample

    cfg = config_from_json(PriorConfig, {"laws": {"tied_gain": [-0.5, 0.2], "multi_power_C_per_step": [0.1, 0.2]}})
    assert schedule_law_priors("multi_power", cfg.laws)["gain"] == LogNormal(-0.5, 0.2)  # (mean, sd of the log): any order
    assert schedule_law_priors("lr_annealing", cfg.laws)["gain"] == LogNormal(-0.5, 0.2)
    assert schedule_law_priors("multi_power", cfg.laws)["C"] == LogUniform(0.1, 0.2)  # per step
    assert {n: schedule_law_priors(n, PriorConfig().laws) for n in SCHEDULE_LAWS} == {
        n: law.priors for n, law in SCHEDULE_LAWS.items()
    }
    # A slower realization of loss drops changes no curve's rejection (larger gains would: losses below 0).
    slow = config_from_json(PriorConfig, {"laws": {"multi_power_C_per_step": [0.01, 0.02]}})
    only_laws = dataclasses.replace(slow, source_weights=(0, 0, 1, 0, 0, 0))
    default = dataclasses.replace(PriorConfig(), source_weights=(0, 0, 1, 0, 0, 0))
    a, b = (sample(torch.Generator().manual_seed(0), 64, 20, config=c) for c in (default, only_laws))
    assert (a.source == SOURCES.index("multi_power")).all()
    assert not torch.allclose(a.y_clean, b.y_clean)
    assert torch.equal(a.x, b.x)  # the same uniforms, other parameters


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
    assert dataclasses.is_dataclass(PriorConfig)
