"""Entry point: ``python -m benchmarks.engines`` (see ``benchmarks.engines.cli``)."""

import sys

from benchmarks.engines.cli import main

if __name__ == "__main__":  # spawned children import this module as __mp_main__
    sys.exit(main())
