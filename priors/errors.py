"""The root of the package's errors, here at the bottom of the import chain (``priors`` <- ``lcpfn``)
so that a bad schedule from :mod:`priors.schedules` is an :class:`LCPFNError` like every other;
:mod:`lcpfn.errors` holds the rest of the tree and their HTTP codes."""


class LCPFNError(Exception):
    """Base of the errors raised by lcpfn."""
