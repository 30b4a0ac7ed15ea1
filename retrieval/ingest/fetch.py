"""Fetch one http(s) URL without letting a user reach the bot's own network.

Synchronous on purpose: the engine runs it in a worker thread. Only the standard library is
used, so every connection can be pinned to an address that was checked first: the host is
resolved once, every address is vetted, and the socket connects to a vetted address while
the Host header and TLS SNI carry the original name. A DNS answer that changes between the
check and the connection (DNS rebinding) therefore cannot redirect us to a private address.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from retrieval.errors import InputError
from retrieval.ingest.addresses import is_public_address
from retrieval.ingest.documents import format_size

MAX_REDIRECTS = 5
# Public sites only on the web's own ports: other ports would let an admin probe services
# (mail, databases, admin panels) through the bot.
_PUBLIC_PORTS = frozenset({80, 443})
_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "articlebot/0.1"
_ACCEPT = "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5"
_MAX_SHOWN_URL = 120

@dataclass(frozen=True)
class Fetched:
    data: bytes
    name: str  # last path segment, or the host: used with content_type to detect the type
    content_type: str | None
    url: str  # the final URL, after redirects


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line


def fetch_url(
    url: str, *, timeout_s: float, max_bytes: int, allow_private: bool = False
) -> Fetched:
    """GET ``url`` (following up to five redirects) and return at most ``max_bytes`` of body."""
    deadline = time.monotonic() + timeout_s
    current = url.strip()
    for _hop in range(MAX_REDIRECTS + 1):
        target = _parse_url(current)
        addresses = _resolve_and_vet(target, allow_private=allow_private)
        if not allow_private and target.port not in _PUBLIC_PORTS:
            raise InputError(f"Refusing to fetch {_shown(target.url)}: only the standard web "
                             "ports (80 and 443) can be fetched.")
        location, fetched = _request(target, addresses, deadline, max_bytes,
                                     detailed=allow_private)
        if fetched is not None:
            return fetched
        current = urljoin(target.url, location)
    raise InputError(
        f"Could not fetch {_shown(url)}: it redirects more than {MAX_REDIRECTS} times."
    )


# ---------------------------------------------------------------------------- vetting


def _resolve_and_vet(target: _Target, *, allow_private: bool) -> list[str]:
    """Resolve the host once; refuse it if ANY of its addresses is not public."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InputError(
            f"Could not fetch {_shown(target.url)}: the host name could not be resolved."
        ) from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InputError(f"Could not fetch {_shown(target.url)}: the host has no address.")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise InputError(
                    f"Refusing to fetch {_shown(target.url)}: it points to a private or local "
                    f"address ({address})."
                )
    return addresses


# ---------------------------------------------------------------------------- urls


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InputError(f"{_shown(url)} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"Only http and https links can be fetched, not {_shown(url)}.")
    if not parts.hostname:
        raise InputError(f"{_shown(url)} has no host name.")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"Links with a user name or password are not supported: {_shown(url)}.")
    if port is None:
        port = 443 if scheme == "https" else 80
    return _Target(
        url=url,
        scheme=scheme,
        host=parts.hostname,
        port=port,
        path=_request_path(parts),
    )


def _request_path(parts: SplitResult) -> str:
    path = parts.path or "/"
    # Spaces or other raw characters would break the request line; percent-encode them.
    path = "".join(c if 0x20 < ord(c) < 0x7F else _percent(c) for c in path)
    query = "".join(c if 0x20 < ord(c) < 0x7F else _percent(c) for c in parts.query)
    return f"{path}?{query}" if query else path


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _name_for(url: str) -> str:
    parts = urlsplit(url)
    segment = unquote(PurePosixPath(parts.path).name) if parts.path else ""
    name = "".join(c for c in segment if c.isprintable() and c not in "/\\").strip()
    return (name or parts.hostname or "download")[:100]


def _shown(url: str) -> str:
    """The URL as quoted in messages: printable and of bounded length."""
    text = "".join(c for c in url if c.isprintable())
    return text if len(text) <= _MAX_SHOWN_URL else text[: _MAX_SHOWN_URL - 3] + "..."


# ---------------------------------------------------------------------------- connections


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to ``host`` that only ever connects to the vetted addresses."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect_any(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Like ``_PinnedHTTPConnection``, with TLS verified against the host name (SNI too)."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._tls = context

    def connect(self) -> None:
        raw = _connect_any(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _connect_any(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last = exc
    raise last or OSError("no address to connect to")


def _open_connection(
    target: _Target, addresses: list[str], timeout: float
) -> http.client.HTTPConnection:
    if target.scheme == "https":
        context = ssl.create_default_context()
        return _PinnedHTTPSConnection(target.host, target.port, addresses, timeout, context)
    return _PinnedHTTPConnection(target.host, target.port, addresses, timeout)


# ---------------------------------------------------------------------------- requests


def _request(
    target: _Target, addresses: list[str], deadline: float, max_bytes: int, *,
    detailed: bool = False,
) -> tuple[str, Fetched | None]:
    """One GET. Returns (redirect location, None) or ("", the fetched body).

    Socket timeouts bound each read, not the whole: a server trickling a byte of headers or
    chunk sizes at a time would outlast them. A watchdog shuts the socket at the deadline.
    """
    connection = _open_connection(target, addresses, _remaining(target, deadline))
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(_remaining(target, deadline), expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("GET", target.path, headers=_headers())
        response = connection.getresponse()
        return _handle_response(target, response, deadline, max_bytes)
    except InputError:
        if expired.is_set():
            raise _timed_out(target) from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            raise _timed_out(target) from None
        # Without private URLs allowed, the reason stays vague: "refused" against "timed out"
        # would tell an admin which ports of a host are open.
        reason = _reason(exc) if detailed else "the site could not be reached"
        raise InputError(f"Could not fetch {_shown(target.url)}: {reason}.") from None
    finally:
        watchdog.cancel()
        connection.close()


def _timed_out(target: _Target) -> InputError:
    return InputError(f"Could not fetch {_shown(target.url)}: it timed out.")


def _headers() -> dict[str, str]:
    return {
        "User-Agent": _USER_AGENT,
        "Accept": _ACCEPT,
        # Compressed bodies could be bombs; ask for the plain bytes.
        "Accept-Encoding": "identity",
        "Connection": "close",
    }


def _handle_response(
    target: _Target, response: http.client.HTTPResponse, deadline: float, max_bytes: int
) -> tuple[str, Fetched | None]:
    status = response.status
    if status in _REDIRECT_STATUSES:
        location = response.getheader("Location")
        if not location:
            raise InputError(f"Could not fetch {_shown(target.url)}: a redirect had no target.")
        return location.strip(), None
    if not 200 <= status < 300:
        reason = f"{status} {response.reason}".strip()
        raise InputError(f"Could not fetch {_shown(target.url)}: the server answered {reason}.")
    _check_declared_length(target, response, max_bytes)
    data = _read_body(target, response, deadline, max_bytes)
    fetched = Fetched(
        data=data,
        name=_name_for(target.url),
        content_type=response.getheader("Content-Type"),
        url=target.url,
    )
    return "", fetched


def _check_declared_length(
    target: _Target, response: http.client.HTTPResponse, max_bytes: int
) -> None:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_large(target, max_bytes)


def _read_body(
    target: _Target, response: http.client.HTTPResponse, deadline: float, max_bytes: int
) -> bytes:
    decoder = _decoder_for(target, response.getheader("Content-Encoding"))
    chunks: list[bytes] = []
    total = 0
    while True:
        _remaining(target, deadline)
        raw = response.read1(_CHUNK_BYTES)
        chunk = raw if decoder is None else _inflate(decoder, raw, max_bytes - total + 1)
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(target, max_bytes)
        chunks.append(chunk)
        if not raw:
            return b"".join(chunks)


def _inflate(decoder: zlib._Decompress, raw: bytes, limit: int) -> bytes:
    # Bounded: never inflate more than one byte past the limit, whatever the ratio.
    if raw:
        return decoder.decompress(raw, limit)
    return decoder.flush()[:limit]


def _decoder_for(target: _Target, encoding: str | None) -> zlib._Decompress | None:
    value = (encoding or "identity").strip().lower()
    if value in ("", "identity"):
        return None
    # We asked for identity; some servers compress anyway. gzip and deflate are handled.
    if value in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if value == "deflate":
        return zlib.decompressobj()
    raise InputError(
        f"Could not fetch {_shown(target.url)}: the server used an unsupported encoding ({value})."
    )


def _remaining(target: _Target, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(target)
    return left


def _too_large(target: _Target, max_bytes: int) -> InputError:
    limit = format_size(max_bytes)
    return InputError(f"Could not fetch {_shown(target.url)}: it is larger than {limit}.")


def _reason(exc: BaseException) -> str:
    """A short human reason for a network failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "it timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its TLS certificate could not be verified"
    if isinstance(exc, ssl.SSLError):
        return "the secure (TLS) connection failed"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if isinstance(exc, http.client.HTTPException | ValueError):
        return "the server sent an invalid response"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "a network error occurred"
