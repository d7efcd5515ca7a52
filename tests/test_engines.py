"""mplog._engines: which way an engine's worker reaches the listener."""

from __future__ import annotations

import logging
import pickle

import pytest

import mplog
from mplog._engines import Route, route

KEY = "engines-test-key-0123456789abcdef"


def test_local_socket_here_network_address_elsewhere() -> None:
    """A worker on the listener's host takes the local socket; one on another host connects
    over TCP to ``listen=`` with the listener's key; without ``listen=`` it has no way."""
    with mplog.setup_listener(
        handlers=[logging.NullHandler()], listen="127.0.0.1:0", key=KEY
    ) as listener:
        here = route(None, None, None, None, None)  # the running listener
        assert here.local is not None and here.local.address == listener.address
        assert here.choose() == here.local
        assert here.network is not None
        assert here.network.address == listener.network_address
        assert here.network.key == KEY.encode()
        elsewhere = pickle.loads(pickle.dumps(Route(here.local, here.network, "another-host")))
        assert elsewhere.choose() == here.network
        assert Route(here.local, None, "another-host").choose() is None
    assert here.choose() == here.network, "the listener stopped: its socket is gone"


def test_an_explicit_address_sends_every_worker_over_tcp() -> None:
    fixed = route(None, "127.0.0.1:9", KEY, None, None)
    assert fixed.local is None
    assert fixed.network is not None and fixed.network.address == ("127.0.0.1", 9)
    assert fixed.choose() == fixed.network


def test_errors_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MPLOG_KEY", raising=False)
    with pytest.raises(RuntimeError, match="setup_listener"):
        route(None, None, None, None, None)
    with pytest.raises(ValueError, match="key"):
        route(None, "127.0.0.1:9", None, None, None)
    with mplog.setup_listener(handlers=[logging.NullHandler()]) as listener:
        with pytest.raises(ValueError, match="not both"):
            route(listener, "127.0.0.1:9", KEY, None, None)
        assert route(listener, None, None, None, None).network is None


def test_a_worker_that_cannot_reach_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    Route(None, None, "elsewhere").say_unreachable("Dask worker tcp://w:1")
    err = capsys.readouterr().err
    assert "Dask worker tcp://w:1" in err and "listen=" in err and "address=" in err
