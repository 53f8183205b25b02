"""Learning-rate schedules for :meth:`lcpfn.Model.predict`, so user code needs no ``priors`` import.

>>> from lcpfn.schedules import wsd
>>> s = wsd(total=24000, peak=3e-4, cooldown=0.2)
>>> float(s(24000 * 0.9)) < 3e-4
True
"""

from priors.schedules import (
    MAX_MILESTONES,
    NAMES,
    SHAPES,
    InvalidScheduleError,
    Schedule,
    constant,
    cosine,
    exponential,
    from_name,
    inverse_sqrt,
    linear,
    step,
    wsd,
)

__all__ = [
    "MAX_MILESTONES",
    "NAMES",
    "SHAPES",
    "InvalidScheduleError",
    "Schedule",
    "constant",
    "cosine",
    "exponential",
    "from_name",
    "inverse_sqrt",
    "linear",
    "step",
    "wsd",
]
