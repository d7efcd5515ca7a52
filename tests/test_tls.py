"""TLS around network connections: ``setup_listener(tls=)``, ``mplog.connect(tls=)``, mutual
TLS, refusals counted in ``stats()["network"]``, and the ``Tls`` setting's checks. Real
certificates, made by the openssl command in the test's directory (tests/_certs.py)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import socket
import ssl
from pathlib import Path

import pytest

import mplog
from mplog._tls import Tls
from tests._certs import Certs, make_certs, needs_openssl
from tests._helpers import FMT, TIMEOUT, check_sequences, read_lines, run_sender, wait_for

pytestmark = needs_openssl
KEY = "t" * 32


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _sender(tmp_path: Path, address: tuple[str, int], tag: str, count: int, tls: str) -> None:
    """A separate program logging ``count`` records into ``address`` with
    ``mplog.connect(tls=<tls>)``, then 3 from a spawned pool of its own (its workers get the
    TLS setting by pickling)."""
    run_sender(tmp_path, address, tag, count, key=KEY, tls=tls, pool_method="spawn")


def _listener(log_path: Path, tls: object, mode: str = "thread") -> mplog.Listener:
    return mplog.setup_listener(
        log_path, fmt=FMT, level="INFO", mode=mode, listen="127.0.0.1:0", key=KEY, tls=tls
    )


def _read_until_closed(sock: socket.socket) -> None:
    """Read until the listener ends the connection (after at most a TLS alert)."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass


def _network_counts(listener: mplog.Listener) -> dict[str, int]:
    return dict(listener.stats()["network"])


def test_records_arrive_in_order_over_tls(
    mode: str, certs: Certs, tmp_path: Path, log_path: Path
) -> None:
    """Two senders (and their spawned pools) over TLS, checking the listener's certificate
    against the test CA; every record arrives once, in order per process."""
    listener = _listener(log_path, (certs.server_cert, certs.server_key), mode)
    assert listener.network_address is not None
    for tag in ("a", "b"):
        _sender(tmp_path, listener.network_address, tag, 500, repr(str(certs.ca)))
    stats = listener.stop()
    pools = {f"{tag}-pool-{i}": 1 for tag in "ab" for i in range(3)}
    check_sequences(read_lines(log_path), {"a": 500, "b": 500, **pools})
    assert sum(stats["network"].values()) == 0


def test_mutual_tls(certs: Certs, tmp_path: Path, log_path: Path) -> None:
    """With a client CA the listener takes senders with a certificate it signed, and cuts
    off (and counts) one without."""
    tls = (certs.server_cert, certs.server_key, certs.ca)
    listener = _listener(log_path, tls, "process")
    address = listener.network_address
    assert address is not None
    paths = (str(certs.ca), str(certs.client_cert), str(certs.client_key))
    client = "mplog.Tls(ca={!r}, cert={!r}, key={!r})".format(*paths)
    _sender(tmp_path, address, "mtls", 50, client)
    root = logging.getLogger()
    before = list(root.handlers)
    with pytest.raises(ConnectionRefusedError, match="could not log into the listener"):
        mplog.connect(address, key=KEY, tls=certs.ca)
    assert root.handlers == before
    wait_for(lambda: _network_counts(listener)["tls_failed"] == 1, TIMEOUT, "the refusal")
    listener.stop()
    check_sequences(read_lines(log_path), {"mtls": 50, **{f"mtls-pool-{i}": 1 for i in range(3)}})
    assert "cut off (tls_failed)" in log_path.read_text()


def test_a_listener_signed_by_another_ca_is_refused(certs: Certs, log_path: Path) -> None:
    """A sender that trusts another CA refuses the listener's certificate (so a key holder's
    records never go to an impostor); the listener counts the failed handshake."""
    listener = _listener(log_path, (certs.server_cert, certs.server_key))
    assert listener.network_address is not None
    with pytest.raises(ConnectionRefusedError, match="CERTIFICATE_VERIFY_FAILED"):
        mplog.connect(listener.network_address, key=KEY, tls=certs.other_ca)
    wait_for(lambda: _network_counts(listener)["tls_failed"] == 1, TIMEOUT, "the refusal")
    listener.stop()


def test_plaintext_and_silent_clients_are_cut_off(
    mode: str, certs: Certs, tmp_path: Path, log_path: Path
) -> None:
    """A plaintext client's bytes fail the TLS handshake at once; a client that starts a
    handshake and goes silent holds up nobody (a sender gets through meanwhile) and is cut
    off at the handshake deadline. Both counted."""
    listener = _listener(log_path, (certs.server_cert, certs.server_key), mode)
    address = listener.network_address
    assert address is not None
    with socket.create_connection(address, timeout=TIMEOUT) as plain:
        plain.sendall(b"\x00\x00\x00\x20\x01" + b"x" * 32)  # a frame, not a ClientHello
        _read_until_closed(plain)  # a timeout error if it is not cut off
    silent = socket.create_connection(address, timeout=TIMEOUT)
    silent.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
    _sender(tmp_path, address, "ok", 20, repr(str(certs.ca)))
    counts = wait_for(
        lambda: (c := _network_counts(listener))["timed_out"] == 1 and c, TIMEOUT, "a cut-off"
    )
    silent.close()
    assert counts["tls_failed"] == 1
    listener.stop()
    check_sequences(read_lines(log_path), {"ok": 20, **{f"ok-pool-{i}": 1 for i in range(3)}})


def test_the_hmac_handshake_still_runs_inside_tls(certs: Certs, log_path: Path) -> None:
    """TLS does not replace the key: a TLS sender with the wrong key is refused."""
    listener = _listener(log_path, (certs.server_cert, certs.server_key))
    assert listener.network_address is not None
    with pytest.raises(ConnectionRefusedError, match="the key"):
        mplog.connect(listener.network_address, key="w" * 32, tls=certs.ca)
    stats = listener.stop()
    assert stats["network"]["rejected_auth"] == 1


def test_no_cleartext_warning_with_tls(
    certs: Certs, log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = mplog.setup_listener(
        log_path, listen="0.0.0.0:0", key=KEY, tls=(certs.server_cert, certs.server_key)
    )
    listener.stop()
    assert "without TLS" not in capsys.readouterr().err


# -- the Tls setting: one check each, with the fix in the message -----------------------------


def test_tls_forms(certs: Certs) -> None:
    server = Tls.of((certs.server_cert, certs.server_key), server=True)
    assert server is not None and server.ca is None
    assert Tls.of(str(certs.ca), server=False) == Tls(ca=str(certs.ca))
    assert Tls.of(True, server=False) == Tls()
    assert Tls.of(None, server=True) is None and Tls.of(False, server=False) is None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    assert Tls.of(context, server=True) == Tls(context=context)
    assert pickle.loads(pickle.dumps(server)) == server


def test_tls_errors(certs: Certs, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"\(cert, key\)"):
        Tls.of("cert.pem", server=True)  # a listener needs its key too
    with pytest.raises(TypeError, match="tls= takes"):
        Tls.of(42, server=False)
    with pytest.raises(FileNotFoundError, match="certificate file"):
        Tls.of((tmp_path / "nope.pem", certs.server_key), server=True)
    loose = tmp_path / "loose.key"
    loose.write_bytes(certs.server_key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        Tls.of((certs.server_cert, loose), server=True)
    with pytest.raises(ValueError, match="key matches the certificate"):
        Tls.of((certs.server_cert, certs.client_key), server=True)
    with pytest.raises(ValueError, match="other side"):
        Tls.of(ssl.create_default_context(), server=True)
    with pytest.raises(TypeError, match="give the certificate files"):
        pickle.dumps(Tls(context=ssl.create_default_context()))
    with pytest.raises(ValueError, match="add listen="):
        mplog.setup_listener(console=True, tls=(certs.server_cert, certs.server_key))
    os.chmod(loose, 0o600)


def test_a_spawned_listener_process_takes_files_not_a_context(
    certs: Certs, tmp_path: Path, log_path: Path
) -> None:
    """A listener process started by spawn gets the TLS files (pickled) and serves TLS; an
    SSLContext cannot cross into it, and the error says what to give instead."""
    spawn = multiprocessing.get_context("spawn")
    listener = mplog.setup_listener(
        log_path,
        fmt=FMT,
        level="INFO",
        mode="process",
        mp_context=spawn,
        listen="127.0.0.1:0",
        key=KEY,
        tls=(certs.server_cert, certs.server_key),
    )
    assert listener.network_address is not None
    _sender(tmp_path, listener.network_address, "spawned", 30, repr(str(certs.ca)))
    listener.stop()
    check_sequences(
        read_lines(log_path), {"spawned": 30, **{f"spawned-pool-{i}": 1 for i in range(3)}}
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    with pytest.raises(TypeError, match="give the certificate files"):
        mplog.setup_listener(
            tmp_path / "other.log",
            mode="process",
            mp_context=spawn,
            listen="127.0.0.1:0",
            key=KEY,
            tls=context,
        )
