"""Distributed engines logging into one file: mplog vs each engine's own forwarding.

``python -m benchmarks.engines`` (see ``benchmarks.engines.cli``): Dask through
``mplog.dask.install`` vs ``Client.forward_logging()``, and Ray through
``mplog.ray.install`` vs ``log_to_driver``; records/s into one file, and records lost when a
worker is killed (Dask) or when the driver exits right after its last ``ray.get`` (Ray).
"""
