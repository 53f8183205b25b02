"""``python -m serve``: start the HTTP service."""

import sys

if __name__ == "__main__":
    sys.exit("lcpfn: the HTTP service is not built yet (tracked as the 'HTTP service' issue); nothing to start.")
