"""An https endpoint whose certificate is not trusted is reported at once as a certificate
failure (not retried, not "could not be reached"), with the SSL_CERT_FILE hint; trusting the
CA through SSL_CERT_FILE gets past it."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from conftest import SDKAPPID, SERVER_KEY, cli_env, dump_yaml, run_cli


class _NotFound(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the handler's name
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def tls_server(ca: trustme.CA) -> Iterator[tuple[str, list[int]]]:
    """A local https server with a certificate for 127.0.0.1 signed by ``ca``; it counts the
    TLS handshakes attempted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    handshakes = [0]

    class Server(ThreadingHTTPServer):
        def get_request(self):
            sock, address = self.socket.accept()
            handshakes[0] += 1
            return context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            ), address

        def handle_error(self, request, client_address) -> None:
            pass  # the refused handshakes

    server = Server(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", handshakes
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def config(tmp_path: Path):
    def write(url: str) -> Path:
        doc = {"app": {"sdkappid": SDKAPPID, "endpoint": url}, "groups": []}
        doc["groups"] = [{"id": "g1", "type": "Public", "name": "G"}]
        (tmp_path / "groups.yaml").write_text(dump_yaml(doc))
        return tmp_path

    return write


def test_an_untrusted_certificate_fails_at_once_with_its_own_message(config, tmp_path):
    ca = trustme.CA()
    with tls_server(ca) as (url, handshakes):
        started = time.monotonic()
        run = run_cli("plan", config(url), env=cli_env(TIM_SECRET_KEY=SERVER_KEY))
        elapsed = time.monotonic() - started
    assert run.code == 1, run
    assert "TLS certificate verification failed" in run.err
    assert "SSL_CERT_FILE" in run.err
    assert "could not be reached" not in run.err and "Traceback" not in run.err
    assert handshakes[0] == 1  # not retried
    assert elapsed < 8, elapsed  # no backoff (retries took about 9 s)
    assert SERVER_KEY not in run.text


def test_ssl_cert_file_makes_the_certificate_trusted(config, tmp_path):
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with tls_server(ca) as (url, _):
        run = run_cli(
            "plan", config(url), env=cli_env(TIM_SECRET_KEY=SERVER_KEY, SSL_CERT_FILE=str(bundle))
        )
    assert run.code == 1, run
    assert "certificate" not in run.err.lower()
    assert "HTTP 404" in run.err  # past TLS: the server's own answer
