"""The errors the library raises; each maps to one HTTP status in the service.

=========================  ====================================================  ====
error                      when                                                  HTTP
=========================  ====================================================  ====
``InvalidCurveError``      a curve, query, schedule or option is not usable      422
``InvalidScheduleError``   a schedule parameter is out of range                  422
``ModelFileError``         a model file or its card is missing or corrupt        500
``MissingDependencyError`` an optional extra is not installed                    503
``BudgetExceededError``    MCMC found no posterior draws within its time budget  503
=========================  ====================================================  ====

Messages name the field and the offending value (``y[3]=nan``).
"""

from __future__ import annotations

from priors.errors import LCPFNError
from priors.schedules import InvalidScheduleError


class InvalidCurveError(LCPFNError, ValueError):
    """Bad user input: the message names the field, the position and the value."""


class ModelFileError(LCPFNError, OSError):
    """A model file or its card is missing, unreadable or inconsistent; the message names the file."""


class MissingDependencyError(LCPFNError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class BudgetExceededError(LCPFNError, RuntimeError):
    """A computation ran out of its wall-clock budget before producing anything usable."""


def require(module: str, extra: str):
    """Import an optional dependency, or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"{module} is needed for this; install it with pip install 'lcpfn-sched[{extra}]'") from e


__all__ = [
    "LCPFNError",
    "InvalidCurveError",
    "InvalidScheduleError",
    "ModelFileError",
    "MissingDependencyError",
    "BudgetExceededError",
    "require",
]
