"""The variants the suite compares, one small module per family, in table order."""

from __future__ import annotations

from collections.abc import Iterable

from benchmarks.harness import Variant
from benchmarks.variants import destinations, mplog_variants, network, stdlib, thirdparty

#: Every variant, in the order of the table.
ALL: tuple[Variant, ...] = (
    *stdlib.VARIANTS,
    *thirdparty.VARIANTS,
    *mplog_variants.VARIANTS,
    *network.VARIANTS,
    *destinations.VARIANTS,
)
#: The variant the ratios are computed against.
REFERENCE = "cookbook-thread"


def by_name(names: Iterable[str]) -> list[Variant]:
    """The variants called ``names``, in table order; unknown names raise ValueError."""
    wanted = set(names)
    unknown = wanted - {variant.name for variant in ALL}
    if unknown:
        known = ", ".join(variant.name for variant in ALL)
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {known}")
    return [variant for variant in ALL if variant.name in wanted]
