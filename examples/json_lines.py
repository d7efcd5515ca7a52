"""JSON lines from a process pool: one JSON object per record, extras, context and exceptions.

Every worker's records reach the one listener, which formats them with
:class:`mplog.handlers.JsonFormatter`: time with its UTC offset, level, logger, message, the
origin (process, thread, function, line), every ``extra=`` and :func:`mplog.context` field,
and exceptions as structure (type, message, frames) as well as text.
Run: ``python examples/json_lines.py [OUTPUT_DIR]``.
"""

import json
import logging
import os
import sys
import tempfile

import mplog
from mplog.handlers import JsonFormatter

ORDERS = 6


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def process_order(order: int) -> None:
    """Log an order's progress with fields; every third order fails with a traceback."""
    log = logging.getLogger("shop.orders")
    with mplog.context(order_id=order):
        log.info("order received", extra={"items": order + 1, "total": 9.5 * (order + 1)})
        try:
            if order % 3 == 2:
                raise ValueError(f"order {order}: card declined")
            log.info("order shipped")
        except ValueError:
            log.exception("order failed")


def main() -> None:
    path = os.path.join(output_dir(), "orders.jsonl")
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(JsonFormatter(static={"service": "shop"}))
    with (
        mplog.setup_listener(handlers=[handler], level="INFO"),
        mplog.ProcessPoolExecutor(2) as pool,
    ):
        list(pool.map(process_order, range(ORDERS)))
    with open(path, encoding="utf-8") as file:
        records = [json.loads(line) for line in file]
    print(f"wrote {path} ({len(records)} lines)")
    failed = next(r for r in records if "exc_info" in r)
    print(json.dumps(failed, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
