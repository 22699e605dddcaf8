"""A throwaway PostgreSQL cluster under ``MARKET_DATA_HOME``, for the embedded default and tests.

Without ``DATABASE_URL`` the project still needs a real PostgreSQL (COPY, partitions,
Dagster's storage), so it runs its own cluster from the machine's server binaries
(Debian's ``postgresql-15``, which keeps them off PATH). ``initdb`` and ``pg_ctl`` refuse to
run as root, so as root they run as the ``postgres`` system user. The server outlives the
process that started it and is reused by the next one; a file lock keeps two starters from
racing.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import time
import urllib.parse
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from market_data import settings
from market_data.errors import LocalServerError
from market_data_local.detached import free_port
from market_data_local.state import folder_lock, log_tail

SERVER_USER = "postgres"
"""The system user the server runs as when started by root (Debian's package creates it)."""

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")

# sun_path holds 108 bytes with its NUL; PostgreSQL refuses to start if no socket fits.
_MAX_SOCKET_PATH = 107


class EmbeddedPostgresError(LocalServerError):
    """The embedded cluster could not be set up or started."""


def _has_server_binaries(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in SERVER_BINARIES)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` sorts by 15, so the newest installed server wins."""
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_server_bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` live.

    ``MARKET_DATA_PG_BINDIR`` wins and is not second-guessed: a wrong override is an error,
    not a silent fall back to another server version.
    """
    missing = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
        "postgresql-15 package (apt-get install postgresql-15) or set DATABASE_URL to an "
        "existing server"
    )
    override = settings.pg_bindir()
    if override:
        bindir = Path(override)
        if _has_server_binaries(bindir):
            return bindir
        raise EmbeddedPostgresError(f"{missing} (MARKET_DATA_PG_BINDIR={override} lacks them)")
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and _has_server_binaries(Path(result.stdout.strip())):
            return Path(result.stdout.strip())
    installed = [
        bindir
        for bindir in Path("/usr/lib/postgresql").glob("*/bin")
        if _has_server_binaries(bindir)
    ]
    if installed:
        return max(installed, key=_version_key)
    initdb = shutil.which("initdb")
    if initdb and _has_server_binaries(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent
    raise EmbeddedPostgresError(missing)


def _port_is_free(port: int) -> bool:
    """Bindable as PostgreSQL binds it: with SO_REUSEADDR, so connections of the previous
    run lingering in TIME_WAIT do not push a restarted cluster onto another port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError as error:
        raise EmbeddedPostgresError(
            f"running as root, the embedded cluster runs as the '{SERVER_USER}' system user, "
            "which does not exist: install Debian's postgresql-15 package (it creates the "
            "user) or set DATABASE_URL to an existing server"
        ) from error


@dataclass
class EmbeddedPostgres:
    """One cluster in ``root``: ``data/``, ``socket/``, ``server.log`` and ``port``."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """The unix socket lives here, not in /var/run, which may be missing or root's."""
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def port_file(self) -> Path:
        """The port survives restarts, so URLs handed out earlier stay valid if it is free."""
        return self.root / "port"

    @property
    def port(self) -> int:
        port = self._stored_port()
        if port is None:
            raise EmbeddedPostgresError(f"the embedded cluster in {self.root} has not been started")
        return port

    def url(self, dbname: str = "market_data") -> str:
        """Trust authentication on loopback: no password to keep anywhere."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{urllib.parse.quote(dbname, safe='')}"

    # -- running the server binaries ---------------------------------------------------

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the cluster's owner; its own session, so the server it may
        start is not killed with this process or its terminal."""
        command = ["runuser", "-u", SERVER_USER, "--", *args] if os.geteuid() == 0 else args
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} {args[1] if len(args) > 1 else ''} failed "
                f"(exit {result.returncode}): {output}\n{log_tail(self.log_file)}"
            )
        return result

    def _prepare_root(self) -> None:
        """As root, hand the folder to the server user and make sure it can reach it."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() != 0:
            return
        owner = _server_user()
        for path in (self.root, *self.root.rglob("*")):
            with suppress(FileNotFoundError):
                if not path.is_symlink() and path.stat().st_uid != owner.pw_uid:
                    os.chown(path, owner.pw_uid, owner.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(self.root)], check=False
        )
        if probe.returncode != 0:
            raise EmbeddedPostgresError(
                f"the '{SERVER_USER}' user cannot reach {self.root}: a parent folder is closed "
                "to other users (e.g. under /root, mode 700); set MARKET_DATA_HOME to a folder "
                "it can reach, or set DATABASE_URL to an existing server"
            )

    def _stored_port(self) -> int | None:
        try:
            return int(self.port_file.read_text())
        except (OSError, ValueError):
            return None

    def _choose_port(self) -> int:
        """The stored port if it is still free, else any free one."""
        stored = self._stored_port()
        if stored is not None and _port_is_free(stored):
            return stored
        return free_port()

    def _recorded_port(self) -> int | None:
        """The port a running server listens on, from line 4 of its ``postmaster.pid``."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        """Whether a postmaster serves ``data_dir`` (it may still be starting up)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        pg_ctl = find_server_bindir() / "pg_ctl"
        status = self._run([str(pg_ctl), "status", "-D", str(self.data_dir)], check=False)
        return status.returncode == 0

    def start(self) -> None:
        """Initialise (first time) and start the cluster; a running one is reused."""
        socket_probe = self.socket_dir / ".s.PGSQL.65535"
        if len(os.fsencode(socket_probe)) > _MAX_SOCKET_PATH:
            raise EmbeddedPostgresError(
                f"{self.socket_dir} is too long for a unix socket path "
                f"({_MAX_SOCKET_PATH} bytes at most): set MARKET_DATA_HOME to a shorter path"
            )
        with folder_lock(self.root):
            bindir = find_server_bindir()
            if self.is_running():
                port = self._recorded_port()  # the truth, should the port file be stale
                if port is not None and self._stored_port() != port:
                    self.port_file.write_text(str(port))
                self._wait_until_ready()
                return
            port = self._choose_port()
            self.root.mkdir(parents=True, exist_ok=True)
            self.port_file.write_text(str(port))
            self._prepare_root()
            if not (self.data_dir / "PG_VERSION").exists():
                self._run(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C",
                    ]
                )
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {shlex.quote(str(self.socket_dir))} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            self._run(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                ]
            )
            self._wait_until_ready()

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=3):
                return True
        except (psycopg.OperationalError, OSError, ValueError, EmbeddedPostgresError):
            return False

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        """``pg_ctl -w`` checks the socket; the TCP listener clients use is checked here."""
        deadline = time.monotonic() + timeout
        while True:
            if self._accepts_connections():
                return
            if time.monotonic() >= deadline:
                raise EmbeddedPostgresError(
                    f"PostgreSQL in {self.data_dir} does not accept connections on "
                    f"127.0.0.1 after {timeout:.0f} s\n{log_tail(self.log_file)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, nothing is lost (the data is throwaway)."""
        with folder_lock(self.root):
            if self.is_running():
                pg_ctl = find_server_bindir() / "pg_ctl"
                self._run([str(pg_ctl), "stop", "-m", "fast", "-w", "-D", str(self.data_dir)])

    def ensure_database(self, dbname: str) -> str:
        """Create ``dbname`` if missing (a concurrent creator may win the race); its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if not exists:
                with suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url(dbname)


def ensure_embedded_postgres(home: Path, dbname: str = "market_data") -> str:
    """Start (or reuse) the cluster under ``home/postgres``; the URL of ``dbname``."""
    cluster = EmbeddedPostgres(Path(home) / "postgres")
    cluster.start()
    return cluster.ensure_database(dbname)
