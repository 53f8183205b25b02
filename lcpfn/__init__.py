"""lcpfn: Bayesian learning-curve extrapolation with a prior-fitted network.

>>> import lcpfn
>>> model = lcpfn.load()
>>> pred = model.predict([1, 2, 3], [0.50, 0.62, 0.68], [50], direction="max", bounds=(0, 1))
>>> bool(0.0 <= pred.interval(0.9)[0][0] <= pred.interval(0.9)[1][0] <= 1.0)
True
"""

from lcpfn.early_stopping import Decision, EarlyStopper
from lcpfn.errors import InvalidCurveError, InvalidScheduleError, LCPFNError, MissingDependencyError, ModelFileError
from lcpfn.inference import Model, load
from lcpfn.prediction import Prediction
from priors.schedules import Schedule

__version__ = "0.1.0"

__all__ = [
    "load",
    "Model",
    "Prediction",
    "EarlyStopper",
    "Decision",
    "Schedule",
    "LCPFNError",
    "InvalidCurveError",
    "InvalidScheduleError",
    "ModelFileError",
    "MissingDependencyError",
]
