"""A small package for the multiple-modules example: each module logs under its own name."""
