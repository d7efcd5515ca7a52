"""Pool tasks: code in one module calls another, and both log."""

import logging

from multimodule.auxiliary import Auxiliary, some_function

logger = logging.getLogger("spam_application.tasks")


def process_item(item: int) -> int:
    """Log six records: one here, four in ``auxiliary``, one here again at DEBUG."""
    logger.info("processing item %d", item)
    result = Auxiliary().do_something()
    some_function()
    logger.debug("item %d done", item)
    return result
