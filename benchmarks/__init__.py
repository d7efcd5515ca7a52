"""mplog's benchmark suite: mplog side by side with the alternatives, every run verified.

Run ``python -m benchmarks`` (``--quick`` for a smoke run); see ``benchmarks/README.md``.
"""
