"""Scripts that train the PFN on the prior and export it (needs the ``train`` extra)."""
