"""The supervisor (mplog._listener.supervisor): Listener lifecycle, setup_listener's destinations
and errors, modes, addresses and the token check."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _protocol
from mplog._listener import supervisor as _supervisor
from mplog._outputs.destinations import FileDestination
from mplog._worker import connection as _connection
from mplog._worker import handler as worker
from tests import _workers
from tests._certs import make_certs, needs_openssl
from tests._helpers import (
    FMT,
    TIMEOUT,
    ListHandler,
    check_sequences,
    join_process,
    read_lines,
    run_sender,
    wait_received,
)


def _spawn_log(tag: str, n: int) -> int:
    process = mplog.Process(
        target=_workers.log_seq, args=(tag, n), context=multiprocessing.get_context("spawn")
    )
    process.start()
    join_process(process)
    assert process.exitcode == 0
    return int(process.pid)


def test_listener_is_a_context_manager(mode: str, log_path: Path) -> None:
    """`with Listener(...)` starts it, ships main's root logger into it, makes it the active
    listener, and on exit stops it and restores main's previous root handlers."""
    previous = logging.NullHandler()
    logging.getLogger().addHandler(previous)
    destination = FileDestination(str(log_path), fmt=FMT)
    with mplog.Listener(destination, mode=mode, level="INFO") as listener:
        assert repr(listener).startswith(f"<mplog.Listener mode={mode} running")
        assert previous not in logging.getLogger().handlers
        assert worker.active_address() == listener.address
        _workers.log_seq("ctx", 5)
    assert previous in logging.getLogger().handlers
    assert worker.active_address() is None
    assert not _supervisor._running
    check_sequences(read_lines(log_path), {"ctx": 5})


def test_stop_is_idempotent_and_returns_stats(
    mode: str, listen: Callable[..., mplog.Listener]
) -> None:
    """stop() returns the statistics (received and per-pid processes), and calling it again
    returns the same result without error; start() twice is refused."""
    listener = listen(mode)
    pid = _spawn_log("s", 7)
    _workers.log_seq("m", 3)
    stats = listener.stop()
    assert stats["received"] == 10
    assert stats["processes"][pid]["received"] == 7
    assert stats["processes"][os.getpid()]["received"] == 3
    assert listener.stop() == stats
    with pytest.raises(RuntimeError, match="already started"):
        listener.start()
    with pytest.raises(RuntimeError, match="not running"):
        _ = listener.worker_config


def test_stats_while_running(mode: str, listen: Callable[..., mplog.Listener]) -> None:
    """stats() while running reports what was received so far."""
    listener = listen(mode)
    pid = _spawn_log("live", 4)
    stats = listener.stats()
    assert stats["processes"][pid]["received"] == 4
    assert listener.stop()["received"] >= 4


def test_config_routes_per_logger_like_the_cookbook(mode: str, tmp_path: Path) -> None:
    """setup_listener(config=...) routes per logger: `foo` has its own file and
    propagate False, everything else goes to the root file; children follow it too."""
    main_log, foo_log = tmp_path / "main.log", tmp_path / "foo.log"
    config = {
        "version": 1,
        "formatters": {"f": {"format": FMT}},
        "handlers": {
            "main": {"class": "logging.FileHandler", "filename": str(main_log), "formatter": "f"},
            "foo": {"class": "logging.FileHandler", "filename": str(foo_log), "formatter": "f"},
        },
        "loggers": {"foo": {"handlers": ["foo"], "propagate": False, "level": "DEBUG"}},
        "root": {"handlers": ["main"], "level": "INFO"},
    }
    listener = mplog.setup_listener(config=config, mode=mode)
    assert logging.getLogger("foo").level == logging.DEBUG
    _workers.log_seq("main-app", 3)
    _workers.log_seq("main-foo", 3, logger="foo.bar", level=logging.DEBUG)
    process = mplog.Process(
        target=_workers.log_seq,
        args=("child-foo", 4, "foo", logging.DEBUG),
        context=multiprocessing.get_context("spawn"),
    )
    process.start()
    join_process(process)
    listener.stop()
    check_sequences(read_lines(main_log), {"main-app": 3})
    check_sequences(read_lines(foo_log), {"main-foo": 3, "child-foo": 4})


def test_handler_objects_in_thread_mode(listen: Callable[..., mplog.Listener]) -> None:
    """handlers=[objects] in thread mode: the listener writes to those very objects."""
    handler = ListHandler()
    listener = mplog.setup_listener(handlers=[handler], level="INFO")
    pid = _spawn_log("obj", 3)
    listener.stop()
    assert [r.getMessage() for r in handler.records if r.process == pid] == [
        "seq obj 0 0",
        "seq obj 1 1",
        "seq obj 2 2",
    ]


def test_handler_factory_in_process_mode(log_path: Path) -> None:
    """handlers=factory with mode="process": the factory builds the handlers in the
    listener process, and records from main and children arrive."""
    factory = functools.partial(_workers.make_file_handlers, str(log_path), FMT)
    listener = mplog.setup_listener(handlers=factory, mode="process", level="INFO")
    _spawn_log("fac", 5)
    _workers.log_seq("fac-main", 2)
    listener.stop()
    check_sequences(read_lines(log_path), {"fac": 5, "fac-main": 2})


def test_tcp_address(mode: str, listen: Callable[..., mplog.Listener], log_path: Path) -> None:
    """address=("127.0.0.1", 0) listens on TCP; the bound port is reported and used."""
    listener = listen(mode, address=("127.0.0.1", 0))
    host, port = listener.address  # type: ignore[misc]
    assert host == "127.0.0.1" and port > 0
    _spawn_log("tcp", 5)
    listener.stop()
    check_sequences(read_lines(log_path), {"tcp": 5})


def test_unix_address_given_is_used_and_removed(
    mode: str, listen: Callable[..., mplog.Listener], tmp_path: Path, log_path: Path
) -> None:
    """An explicit socket path is used, and removed by stop()."""
    path = str(tmp_path / "l.sock")
    listener = listen(mode, address=path)
    assert listener.address == path
    _spawn_log("unix", 2)
    listener.stop()
    assert not os.path.exists(path)
    check_sequences(read_lines(log_path), {"unix": 2})


def test_wrong_token_is_rejected(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """A connection introducing itself with a wrong token is dropped: its records are not
    written, the listener counts it as rejected and goes on serving the others."""
    listener = listen(mode)
    config = listener.worker_config
    sock = _connection.connect(config.address, "0" * 32, "worker")
    record = logging.LogRecord("intruder", logging.ERROR, __file__, 1, "forged", None, None)
    sock.sendall(_protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record)))
    sock.settimeout(TIMEOUT)
    assert sock.recv(1) == b""  # the listener closed it
    sock.close()
    _workers.log_seq("after", 2)
    stats = listener.stop()
    text = log_path.read_text()
    assert "forged" not in text
    assert stats["rejected"] >= 1
    check_sequences(read_lines(log_path), {"after": 2})


# -- bad inputs: clear errors before any worker starts, in both modes ------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"filename": "a.log", "config": {"version": 1}}, ValueError, "one destination"),
        ({"filename": "a.log", "handlers": [logging.NullHandler()]}, ValueError, "one dest"),
        ({}, ValueError, "needs a destination"),
        ({"filename": "a.log", "level": "LOUD"}, ValueError, "unknown logging level"),
        ({"filename": "a.log", "console": "LOUD"}, ValueError, "unknown logging level"),
        ({"config": {"version": 2}}, ValueError, "version"),
        ({"config": {"version": 1, "root": {"handlers": ["x"]}}}, ValueError, "'x'"),
        (
            {"config": {"version": 1, "handlers": {"h": {"class": "no.Such"}}}},
            ValueError,
            "'h'",
        ),
        ({"filename": "a.log", "style": "#"}, ValueError, "style"),
        ({"filename": "a.log", "on_full": "explode"}, ValueError, "on_full"),
    ],
)
def test_bad_inputs_raise_clear_errors(
    kwargs: dict[str, Any], error: type[Exception], match: str, mode: str, tmp_path: Path
) -> None:
    """Bad setup_listener() arguments raise a clear error from setup_listener itself, in both
    modes, leaving no listener running, main's logging untouched and no process behind."""
    if "filename" in kwargs:
        kwargs["filename"] = tmp_path / kwargs["filename"]
    handlers = list(logging.getLogger().handlers)
    with pytest.raises(error, match=match):
        mplog.setup_listener(mode=mode, **kwargs)  # type: ignore[arg-type]
    assert not _supervisor._running
    assert logging.getLogger().handlers == handlers
    assert worker.active_address() is None
    assert multiprocessing.active_children() == []


def test_handler_objects_refused_in_process_mode(tmp_path: Path) -> None:
    """handlers=[objects] with mode="process" is a TypeError asking for a factory."""
    with pytest.raises(TypeError, match="zero-argument function"):
        mplog.setup_listener(handlers=[logging.NullHandler()], mode="process")
    assert multiprocessing.active_children() == []


def test_unknown_mode_refused(tmp_path: Path) -> None:
    """An unknown mode is a ValueError."""
    with pytest.raises(ValueError, match="mode"):
        mplog.setup_listener(tmp_path / "a.log", mode="fiber")  # type: ignore[arg-type]


def test_process_mode_uses_given_context(log_path: Path) -> None:
    """mp_context= picks how the listener process starts (here forkserver)."""
    listener = mplog.setup_listener(
        log_path,
        mode="process",
        fmt=FMT,
        level="INFO",
        mp_context=multiprocessing.get_context("forkserver"),
    )
    assert isinstance(listener._runner, multiprocessing.context.ForkServerProcess)
    _workers.log_seq("fs", 3)
    listener.stop()
    check_sequences(read_lines(log_path), {"fs": 3})


def test_console_echo(mode: str, capfd: pytest.CaptureFixture[str], log_path: Path) -> None:
    """console=True echoes records to the listener's stderr besides the file."""
    listener = mplog.setup_listener(
        log_path, console=True, level="INFO", fmt="%(message)s", mode=mode
    )
    logging.getLogger("c").info("echoed line")
    listener.stop()
    assert "echoed line" in capfd.readouterr().err
    assert log_path.read_text() == "echoed line\n"


def test_socket_is_private_and_cleaned_up(mode: str, listen: Callable[..., mplog.Listener]) -> None:
    """The default address is a Unix socket in a private directory, removed by stop()."""
    listener = listen(mode)
    address = listener.address
    assert isinstance(address, str) and os.path.exists(address)
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(address)
    probe.close()
    listener.stop()
    assert not os.path.exists(os.path.dirname(address))


# A thread loop that never got its control connection cannot be told to stop: it stays, idle
# (a daemon thread); that case is left out so that no test leaves a thread behind.
@pytest.mark.parametrize(
    ("mode", "step"), [("thread", "install"), ("process", "control"), ("process", "install")]
)
def test_a_start_failing_after_the_loop_started_leaves_nothing_behind(
    mode: str, step: str, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If start() fails once the loop runs (its control connection, or the install in
    main), the error reaches the caller, main's handlers are back, the socket is removed,
    and the loop has ended (a listener process without a control connection is killed)."""
    started: list[Any] = []
    real_start_loop = _supervisor.Listener._start_loop

    def start_loop(self: _supervisor.Listener, address: Any, token: str) -> Any:
        bound = real_start_loop(self, address, token)
        started.append((self._runner, bound))
        return bound

    def fail(*args: Any) -> None:
        raise OSError("injected failure")

    monkeypatch.setattr(_supervisor.Listener, "_start_loop", start_loop)
    if step == "control":
        monkeypatch.setattr(_supervisor, "connect", fail)
    else:
        monkeypatch.setattr(_supervisor.Listener, "_catch_sigterm", fail)
    before = list(logging.getLogger().handlers)
    with pytest.raises(OSError, match="injected failure"):
        mplog.setup_listener(log_path, mode=mode)
    ((runner, address),) = started
    assert logging.getLogger().handlers == before
    assert not os.path.exists(os.path.dirname(address))
    if mode == "process" or step == "install":
        runner.join(TIMEOUT)
        assert not runner.is_alive()


@pytest.mark.parametrize("rotate", [None, "1 MB"])
def test_reopen_after_the_file_was_moved(
    mode: str, rotate: str | None, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """reopen() (what ``mplog serve`` does on SIGHUP): after ``mv app.log app.log.1``,
    records go to a new app.log and the moved file keeps what came before; without a move,
    it appends to the same file."""
    listener = listen(mode, rotate=rotate)
    _workers.log_seq("before", 5)
    wait_received(listener, 5)
    moved = log_path.with_name("app.log.1")
    log_path.rename(moved)
    listener.reopen()
    assert log_path.exists()
    _workers.log_seq("after", 5)
    listener.reopen()  # the file was not moved this time: nothing of it is lost
    _workers.log_seq("last", 5)
    listener.stop()
    check_sequences(read_lines(moved), {"before": 5})
    check_sequences(read_lines(log_path), {"after": 5, "last": 5})
    with pytest.raises(RuntimeError, match="not running"):
        listener.reopen()


def test_network_access_is_what_a_sender_elsewhere_needs(
    mode: str, listen: Callable[..., mplog.Listener], tmp_path: Path, log_path: Path
) -> None:
    """``listener.network_access``: the bound address (its real port), the key and tls=False;
    a separate process given only those logs in. None once stopped."""
    key = "n" * 32
    listener = listen(mode, listen="127.0.0.1:0", key=key)
    access = listener.network_access
    assert access is not None and access.address == listener.network_address
    assert access.address[1] > 0
    assert (access.key, access.tls) == (key.encode(), False)
    assert key not in repr(access)
    run_sender(tmp_path, access.address, "far", 20, key=access.key.decode())
    listener.stop()
    assert listener.network_access is None
    pool_tags = {f"far-pool-{i}": 1 for i in range(3)}
    check_sequences(read_lines(log_path), {"far": 20, **pool_tags})


def test_network_access_is_none_without_listen_and_the_token_on_loopback(
    listen: Callable[..., mplog.Listener],
) -> None:
    """Without ``listen=`` there is no network access (before start neither); on a loopback
    address without a key, the key is the listener's token."""
    plain = mplog.Listener(FileDestination(os.devnull, fmt=FMT))
    assert plain.network_access is None
    with plain:
        assert plain.network_access is None
    listener = listen(listen="127.0.0.1:0")
    access = listener.network_access
    assert access is not None
    assert access.key == listener.worker_config.token.encode()
    listener.stop()


@needs_openssl
def test_network_access_says_when_senders_must_speak_tls(
    listen: Callable[..., mplog.Listener], tmp_path: Path, log_path: Path
) -> None:
    """With ``tls=`` the access says so, and a sender bringing the CA reaches the listener."""
    certs = make_certs(tmp_path / "certs")
    key = "s" * 32
    listener = listen(listen="127.0.0.1:0", key=key, tls=(certs.server_cert, certs.server_key))
    access = listener.network_access
    assert access is not None and access.tls
    run_sender(tmp_path, access.address, "tls", 10, key=key, tls=repr(str(certs.ca)))
    listener.stop()
    pool_tags = {f"tls-pool-{i}": 1 for i in range(3)}
    check_sequences(read_lines(log_path), {"tls": 10, **pool_tags})
