"""mplog._settings: the shipping policy and the worker config, each checked once, here."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import mplog
from mplog._settings import Shipping, to_level


def test_to_level_accepts_numbers_and_names() -> None:
    """to_level() takes numbers and level names in any case, and rejects anything else."""
    assert to_level(15) == 15
    assert to_level("debug") == logging.DEBUG
    assert to_level("WARNING") == logging.WARNING
    for bad in ("LOUD", True, None, 1.5):
        with pytest.raises(ValueError, match="unknown logging level"):
            to_level(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_full": "explode"}, "on_full must be 'block' or 'drop'"),
        ({"block_timeout": 0}, "block_timeout must be positive"),
        ({"buffer_bytes": 0}, "buffer_bytes must be a positive number"),
        ({"buffer_bytes": "1 MB"}, "buffer_bytes must be a positive number"),
        ({"keep_level": "LOUD"}, "unknown logging level 'LOUD'"),
    ],
)
def test_shipping_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    """Each bad option is a ValueError naming it, raised where it is declared, so that
    setup_listener, Listener and WorkerConfig all get the same check."""
    with pytest.raises(ValueError, match=message):
        Shipping(**options)
    with pytest.raises(ValueError, match=message):
        mplog.setup_listener(console=True, **options)


def test_drop_below_follows_the_policy() -> None:
    """block drops nothing; drop drops everything, or only below keep_level (a name works)."""
    assert Shipping().drop_below == -1
    assert Shipping(on_full="drop").drop_below > logging.CRITICAL
    assert Shipping(on_full="drop", keep_level="warning").drop_below == logging.WARNING


def test_worker_config_pickles_with_its_shipping_policy() -> None:
    """A WorkerConfig crosses to spawned processes by pickle, policy and all."""
    import pickle

    config = mplog.WorkerConfig("/x", "t", shipping=Shipping(on_full="drop", keep_level=30))
    assert pickle.loads(pickle.dumps(config)) == config


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"spool_bytes": 1000}, ValueError, "spool_bytes must be at least 1048592 bytes"),
        ({"spool_bytes": "8 MB"}, ValueError, "spool_bytes must be at least"),
        ({"spool_dir": 3}, TypeError, "spool_dir must be a directory path or None"),
    ],
)
def test_shipping_rejects_bad_spool_options(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Shipping(**options)


def test_the_spool_dir_is_made_absolute(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative spool_dir names the same directory in pool workers started elsewhere."""
    monkeypatch.chdir(tmp_path)
    assert Shipping(spool_dir="spool").spool_dir == str(tmp_path / "spool")
