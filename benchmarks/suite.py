"""The suite: every variant x start method x worker count, repeated and interleaved.

Repetitions are the outer loop, so that a slow spell of the machine hits every variant
rather than all the repetitions of one; within a repetition the variant order is rotated.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.harness import Tamper, Trial, Variant, run_trial


@dataclass(frozen=True)
class Plan:
    """What to run: variants, start methods, worker counts, records per worker, repetitions."""

    variants: Sequence[Variant]
    methods: Sequence[str]
    workers: Sequence[int]
    records: int
    reps: int

    def size(self) -> int:
        """How many trials the plan holds."""
        return len(self.variants) * len(self.methods) * len(self.workers) * self.reps


def rotated(items: Sequence[Variant], by: int) -> list[Variant]:
    """``items`` rotated left by ``by`` places."""
    if not items:
        return []
    by %= len(items)
    return [*items[by:], *items[:by]]


def run_suite(
    plan: Plan,
    progress: Callable[[Trial], None] | None = None,
    tamper: Tamper | None = None,
) -> list[Trial]:
    """Run every trial of ``plan``; ``progress`` sees each trial as it finishes."""
    if "spawn" in plan.methods or "forkserver" in plan.methods:
        # Started once, outside any measured run, rather than inside the first one.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    trials = []
    for rep in range(plan.reps):
        for method in plan.methods:
            for workers in plan.workers:
                for variant in rotated(plan.variants, rep):
                    trial = run_trial(variant, method, workers, plan.records, rep, tamper=tamper)
                    trials.append(trial)
                    if progress is not None:
                        progress(trial)
    return trials


def check_methods(methods: Sequence[str]) -> None:
    """Raise ValueError for a start method this platform does not have."""
    available = multiprocessing.get_all_start_methods()
    for method in methods:
        if method not in available:
            raise ValueError(f"start method {method!r} is not available here ({available})")
