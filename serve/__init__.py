"""The HTTP service around ``lcpfn`` (needs the ``serve`` extra)."""
