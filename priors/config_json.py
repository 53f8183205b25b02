"""Frozen config dataclasses from JSON, checked key by key: ``--prior my_prior.json``, ``--config my_train.json``.

A JSON object overrides the fields it names on a base config (the defaults, or a
training preset); nested configs (``noise``, ``schedule``, ``laws``, ``model``) may be given in
part. Unknown keys, wrong types and values out of range are :class:`ConfigError`
naming the key (``prior.noise.p_spike must be in [0, 1], got 1.5``).

Ranges, unless a field's ``metadata["range"]`` says otherwise: ``p_*`` fields are
probabilities in [0, 1]; a pair ``(low, high)`` needs ``low <= high`` (and ``low > 0``
where it is log-uniform, i.e. where the default's low is > 0); counts are integers >= 1;
other numbers are finite.

>>> from priors.config import PriorConfig
>>> config_from_json(PriorConfig, {"noise": {"p_spike": 0.2}}).noise.p_spike
0.2
>>> config_from_json(PriorConfig, {"noise": {"p_spike": 1.5}})
Traceback (most recent call last):
...
priors.config_json.ConfigError: noise.p_spike must be in [0, 1], got 1.5
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from priors.errors import LCPFNError

# Pairs that are (location, scale) or (median, spread) rather than (low, high) ranges.
NOT_RANGES = {"family_time_scale", "lcpfn_log_sigma", "tied_gain"}


class ConfigError(LCPFNError, ValueError):
    """A config file's key is unknown, of the wrong type or out of range; the message names it."""


def config_to_json(config) -> str:
    """Pretty JSON of a config dataclass (what ``--print-config`` prints)."""
    return json.dumps(dataclasses.asdict(config), indent=2)


def config_from_json(cls, data: Any, *, base=None, where: str = ""):
    """``base`` (default ``cls()``) with the fields ``data`` names replaced, every value checked."""
    base = cls() if base is None else base
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip('.') or cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}{unknown[0]} is not a setting of {cls.__name__}; the settings are {sorted(known)}")
    values = {}
    for name, value in data.items():
        f, default, key = known[name], getattr(base, name), f"{where}{name}"
        if dataclasses.is_dataclass(default):
            values[name] = config_from_json(type(default), value, base=default, where=f"{key}.")
        else:
            values[name] = _checked(key, name, value, default, f.metadata.get("range"))
    try:
        return dataclasses.replace(base, **values)
    except (ValueError, TypeError) as e:  # the class's own cross-field checks
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {e}") from None


def _checked(key: str, name: str, value, default, bounds):
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        return _pair_or_tuple(key, name, value, default)
    if isinstance(default, int):
        if not (isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        low, high = bounds or (1, None)
    elif isinstance(default, float):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        low, high = bounds or ((0.0, 1.0) if name.startswith("p_") else (None, None))
        value = float(value)
    else:
        raise ConfigError(f"{key} cannot be set from JSON")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{_g(low)}, {_g(high)}]" if high is not None else f">= {_g(low)}"
        raise ConfigError(f"{key} must be {'in ' if high is not None else ''}{span}, got {_g(value)}")
    return value


def _pair_or_tuple(key: str, name: str, value, default: tuple) -> tuple:
    if not (isinstance(value, list) and len(value) == len(default)):
        raise ConfigError(f"{key} must be a list of {len(default)} numbers, got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise ConfigError(f"{key} must hold finite numbers, got {value!r}")
    value = tuple(float(v) for v in value)
    if len(default) == 2 and name not in NOT_RANGES:
        low, high = value
        if low > high:
            raise ConfigError(f"{key} is a range [low, high]: needs low <= high, got {list(value)}")
        if default[0] > 0 and low <= 0:
            raise ConfigError(f"{key} is a log-uniform range: needs low > 0, got {list(value)}")
    return value


def _g(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
