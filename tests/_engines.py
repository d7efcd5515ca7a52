"""Helpers of the engine tests (Dask, Ray): run inside the engines' workers, read their logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mplog


def shipping_address() -> Any:
    """Where this worker's ShippingHandler ships (a socket path, or a TCP address)."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, mplog.ShippingHandler)]
    return handlers[0].config.address if handlers else None


def read_fields(path: Path, fields: int = 5) -> list[list[str]]:
    """The lines of ``path`` split on "|" into ``fields`` parts (the message last); lines of
    fewer parts (a multi-line message's continuation) are left out."""
    lines = [line.split("|", fields - 1) for line in path.read_text("utf-8").splitlines()]
    return [line for line in lines if len(line) == fields]
