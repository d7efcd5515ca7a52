"""mplog._engines: which way an engine's worker reaches the listener."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

import mplog
from mplog._engines import Route, route
from tests._certs import make_certs, needs_openssl

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


@needs_openssl
def test_a_tls_listener_is_reached_over_the_network_only_with_tls(tmp_path: Path) -> None:
    """The workers' TCP route to a listener that uses TLS carries tls= (the CA file); without
    it, workers have only the local socket (plaintext would be refused there)."""
    certs = make_certs(tmp_path / "certs")
    with mplog.setup_listener(
        handlers=[logging.NullHandler()],
        listen="127.0.0.1:0",
        key=KEY,
        tls=(certs.server_cert, certs.server_key),
    ):
        assert route(None, None, None, None, None).network is None
        secure = route(None, None, None, None, None, tls=str(certs.ca)).network
        assert secure is not None and secure.tls is not None
        assert secure.tls.ca == str(certs.ca)
    fixed = route(None, "127.0.0.1:9", KEY, None, None, tls=str(certs.ca)).network
    assert fixed is not None and fixed.tls is not None and fixed.tls.ca == str(certs.ca)


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
