"""``python -m bench``: the benchmark suite (see bench/README.md)."""

import sys

from bench.main import main

if __name__ == "__main__":
    sys.exit(main())
