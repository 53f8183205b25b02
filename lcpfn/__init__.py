"""lcpfn: Bayesian learning-curve extrapolation with a prior-fitted network."""

__version__ = "0.1.0"
