"""Fetching URLs: against a real local HTTP server; public addresses are only vetted."""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import pytest

from retrieval.errors import InputError
from retrieval.ingest import fetch
from retrieval.ingest.fetch import Fetched, fetch_url, is_public_address

PAGE = b"<html><head><title>Local</title></head><body><p>Local news.</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    seen_hosts: list[str] = []  # noqa: RUF012 - shared on purpose, read by the tests

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        _Handler.seen_hosts.append(self.headers.get("Host", ""))
        port = cast(ThreadingHTTPServer, self.server).server_port
        route = self.path.split("?", 1)[0]
        if route == "/news/story.html":
            self._send(200, PAGE, "text/html; charset=utf-8")
        elif route == "/redirect":
            self._redirect(f"http://127.0.0.1:{port}/news/story.html")
        elif route == "/redirect-loop":
            self._redirect("/redirect-loop")
        elif route == "/redirect-relative":
            self._redirect("news/story.html")
        elif route == "/redirect-ftp":
            self._redirect("ftp://127.0.0.1/file.txt")
        elif route == "/redirect-other-loopback":
            self._redirect(f"http://127.0.0.2:{port}/news/story.html")
        elif route == "/big":
            self._send(200, b"x" * 5000, "text/plain")
        elif route == "/big-unsized":
            self._send_unsized(b"y" * 5000)
        elif route == "/gzip":
            self._send(200, gzip.compress(b"z" * 100_000), "text/plain", encoding="gzip")
        elif route in ("/trickle-headers", "/trickle-chunks"):
            self._trickle(route)
        elif route == "/slow":
            time.sleep(2)
            # The client has given up by now; writing would only fail with a broken pipe.
            self.close_connection = True
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str, encoding: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        self.wfile.write(body)

    def _send_unsized(self, body: bytes) -> None:
        # No Content-Length: the client can only find the size by reading.
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _trickle(self, route: str) -> None:
        # One byte every 0.2 s, for up to 6 s: each read succeeds within any socket timeout.
        if route == "/trickle-headers":
            head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 30
        else:
            head = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"1;" + b"b" * 30)
        self.close_connection = True
        try:
            for i in range(len(head)):
                self.wfile.write(head[i : i + 1])
                self.wfile.flush()
                time.sleep(0.2 if i > 20 else 0)
        except OSError:
            pass  # the client gave up, as it should

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, **kwargs: object) -> Fetched:
    options: dict[str, object] = {"timeout_s": 5.0, "max_bytes": 1_000_000, **kwargs}
    return fetch_url(url, **options)  # type: ignore[arg-type]


def error_of(url: str, **kwargs: object) -> str:
    with pytest.raises(InputError) as caught:
        get(url, **kwargs)
    return str(caught.value)


# ---------------------------------------------------------------------------- vetting


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
        "not an address",
    ],
)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_host_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET, stream, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, stream, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_getaddrinfo)
    assert "private or local address (10.0.0.7)" in error_of("http://mixed.example/")


def test_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_getaddrinfo(*args: object, **kwargs: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch.socket, "getaddrinfo", failing_getaddrinfo)
    message = error_of("https://no-such-host.invalid/x")
    assert message == (
        "Could not fetch https://no-such-host.invalid/x: the host name could not be resolved."
    )


# ---------------------------------------------------------------------------- urls


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.txt", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)"]
)
def test_non_http_schemes_are_refused(url: str) -> None:
    assert error_of(url).startswith("Only http and https links can be fetched")


def test_url_with_credentials_is_refused() -> None:
    assert "user name or password" in error_of("http://user:pw@example.com/")


def test_url_with_bad_port_is_refused() -> None:
    assert "is not a valid URL" in error_of("http://example.com:99999/")


# ---------------------------------------------------------------------------- local server


def test_loopback_is_refused_by_default(base_url: str) -> None:
    message = error_of(f"{base_url}/news/story.html")
    assert message.startswith(f"Refusing to fetch {base_url}/news/story.html")
    assert "(127.0.0.1)" in message


def test_loopback_is_allowed_when_private_urls_are_allowed(base_url: str) -> None:
    result = get(f"{base_url}/news/story.html", allow_private=True)
    assert result.data == PAGE
    assert result.name == "story.html"
    assert result.content_type == "text/html; charset=utf-8"
    assert result.url == f"{base_url}/news/story.html"


def test_host_header_carries_the_name_not_the_address(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    _Handler.seen_hosts.clear()
    get(f"http://localhost:{port}/news/story.html", allow_private=True)
    assert _Handler.seen_hosts == [f"localhost:{port}"]


def test_redirects_are_followed_and_final_url_reported(base_url: str) -> None:
    result = get(f"{base_url}/redirect", allow_private=True)
    assert result.data == PAGE
    assert result.url == f"{base_url}/news/story.html"


def test_relative_redirects_are_resolved(base_url: str) -> None:
    assert get(f"{base_url}/redirect-relative", allow_private=True).data == PAGE


def test_redirect_to_loopback_is_refused(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the test server's own address is public, so only the redirect hop is private.
    monkeypatch.setattr(fetch, "is_public_address", lambda address: str(address) == "127.0.0.1")
    monkeypatch.setattr(fetch, "_PUBLIC_PORTS", frozenset({int(base_url.rsplit(":", 1)[1])}))
    message = error_of(f"{base_url}/redirect-other-loopback")
    assert message.startswith("Refusing to fetch http://127.0.0.2:")
    assert "(127.0.0.2)" in message


def test_redirect_to_another_scheme_is_refused(base_url: str) -> None:
    message = error_of(f"{base_url}/redirect-ftp", allow_private=True)
    assert message.startswith("Only http and https links can be fetched")


def test_redirect_loops_stop(base_url: str) -> None:
    message = error_of(f"{base_url}/redirect-loop", allow_private=True)
    assert message.endswith("it redirects more than 5 times.")


def test_too_large_body_is_refused_from_content_length(base_url: str) -> None:
    message = error_of(f"{base_url}/big", allow_private=True, max_bytes=1000)
    assert message == f"Could not fetch {base_url}/big: it is larger than 1000 bytes."


def test_too_large_body_without_length_is_refused_while_streaming(base_url: str) -> None:
    message = error_of(f"{base_url}/big-unsized", allow_private=True, max_bytes=1000)
    assert "is larger than" in message


def test_body_within_limit_without_length_is_read(base_url: str) -> None:
    assert get(f"{base_url}/big-unsized", allow_private=True).data == b"y" * 5000


def test_gzip_body_is_inflated_within_the_limit(base_url: str) -> None:
    assert get(f"{base_url}/gzip", allow_private=True).data == b"z" * 100_000
    message = error_of(f"{base_url}/gzip", allow_private=True, max_bytes=50_000)
    assert "is larger than" in message


def test_not_found_is_refused(base_url: str) -> None:
    message = error_of(f"{base_url}/missing", allow_private=True)
    assert message == f"Could not fetch {base_url}/missing: the server answered 404 Not Found."


def test_unreachable_port_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    assert error_of(url, allow_private=True) == f"Could not fetch {url}: connection refused."


def test_slow_server_times_out(base_url: str) -> None:
    message = error_of(f"{base_url}/slow", allow_private=True, timeout_s=0.5)
    assert message == f"Could not fetch {base_url}/slow: it timed out."


def test_name_falls_back_to_host_without_path(base_url: str) -> None:
    assert get(f"{base_url}/news/story.html", allow_private=True).name == "story.html"
    assert fetch._name_for("https://example.com/") == "example.com"
    assert fetch._name_for("https://example.com/a%20b.pdf?x=1") == "a b.pdf"


# ---------------------------------------------------------------------------- https


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, list[str]]]:
    """An HTTPS server for "localhost" with a throwaway self-signed certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key),
         "-out", str(cert), "-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name or "")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port, str(cert), server_names
    finally:
        server.shutdown()
        server.server_close()


def test_https_with_untrusted_certificate_is_refused(
    tls_server: tuple[int, str, list[str]],
) -> None:
    port, _cert, _names = tls_server
    url = f"https://localhost:{port}/news/story.html"
    message = error_of(url, allow_private=True)
    assert message == f"Could not fetch {url}: its TLS certificate could not be verified."


def test_https_sends_the_host_name_as_sni_while_connecting_to_the_vetted_address(
    tls_server: tuple[int, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert, names = tls_server
    trusting = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(fetch.ssl, "create_default_context", lambda: trusting)
    names.clear()
    result = get(f"https://localhost:{port}/news/story.html", allow_private=True)
    assert result.data == PAGE
    assert names == ["localhost"]


@pytest.mark.parametrize("route", ["/trickle-headers", "/trickle-chunks"])
def test_the_deadline_holds_while_headers_or_chunk_sizes_trickle_in(
    base_url: str, route: str
) -> None:
    started = time.monotonic()
    message = error_of(f"{base_url}{route}", allow_private=True, timeout_s=1.0)
    assert message == f"Could not fetch {base_url}{route}: it timed out."
    assert time.monotonic() - started < 3.0


def test_public_hosts_are_fetched_only_on_the_web_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    import retrieval.ingest.fetch as fetch

    monkeypatch.setattr(fetch, "_resolve_and_vet", lambda *_a, **_k: ["93.184.216.34"])
    message = error_of("http://example.com:8080/page")
    assert "only the standard web ports" in message


def test_connection_errors_on_public_hosts_do_not_say_which_ports_are_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import retrieval.ingest.fetch as fetch

    def refused(*_args: object, **_kwargs: object) -> socket.socket:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(fetch, "_resolve_and_vet", lambda *_a, **_k: ["93.184.216.34"])
    monkeypatch.setattr(fetch.socket, "create_connection", refused)
    message = error_of("http://example.com/page")
    assert message == "Could not fetch http://example.com/page: the site could not be reached."
