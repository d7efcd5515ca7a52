"""The Logging Cookbook's ``auxiliary_module``: a module logger and a per-class logger."""

import logging

module_logger = logging.getLogger("spam_application.auxiliary")


class Auxiliary:
    """Logs under ``spam_application.auxiliary.Auxiliary``."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("spam_application.auxiliary.Auxiliary")
        self.logger.info("creating an instance of Auxiliary")

    def do_something(self) -> int:
        """Log before and after doing something."""
        self.logger.info("doing something")
        result = 1 + 1
        self.logger.info("done doing something")
        return result


def some_function() -> None:
    """Log through the module's logger."""
    module_logger.info('received a call to "some_function"')
