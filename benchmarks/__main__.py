"""Entry point: ``python -m benchmarks`` (see ``benchmarks.cli``)."""

import sys

if __name__ == "__main__":  # spawned children import this module as __mp_main__
    # Imported here, not above: every spawned worker imports this module, and it must not
    # load the suite's machinery (the report, psutil, the variants) on either side of a
    # comparison.
    from benchmarks.cli import main

    sys.exit(main())
