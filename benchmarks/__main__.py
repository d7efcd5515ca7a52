"""Entry point: ``python -m benchmarks`` (see ``benchmarks.cli``)."""

import sys

from benchmarks.cli import main

if __name__ == "__main__":  # spawned children import this module as __mp_main__
    sys.exit(main())
