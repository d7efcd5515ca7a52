"""CPython's own process-pool tests, run against mplog's wrappers (see ``runner``)."""
