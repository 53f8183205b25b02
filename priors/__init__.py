"""The prior over training curves: learning-rate schedules, laws and the sampler.

``priors.schedules`` and ``priors.laws`` need only numpy (they also run on torch and
pytensor); ``priors.sample`` draws training batches with torch.
"""

from priors import laws, schedules

__all__ = ["laws", "schedules"]
