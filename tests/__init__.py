"""mplog's test suite (a package, so spawn and forkserver children can import its workers)."""
