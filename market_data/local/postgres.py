"""A throwaway PostgreSQL cluster under ``MARKET_DATA_HOME``, for the embedded default and tests.

The server binaries come from the machine (Debian's ``postgresql-15``, which keeps them
off PATH). ``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the
``postgres`` system user. The server outlives the process that started it and is
reused by the next one; a file lock keeps two starters from racing.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be set up or started."""


def find_server_bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` live."""
    override = os.environ.get("MARKET_DATA_PG_BINDIR")
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    else:
        pg_config = shutil.which("pg_config")
        if pg_config:
            result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            if result.returncode == 0:
                candidates.append(Path(result.stdout.strip()))
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        candidates.extend(versions)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    where = f" in MARKET_DATA_PG_BINDIR={override}" if override else ""
    raise EmbeddedPostgresError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found{where}: install Debian's "
        "postgresql-15 package (apt-get install postgresql-15) or set DATABASE_URL to an "
        "existing server"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    def url(self, dbname: str = "market_data") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    # -- running the server binaries ---------------------------------------------------

    def _run_as_owner(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        command = args
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(
            command, capture_output=True, text=True, start_new_session=True, check=False
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise EmbeddedPostgresError(
                "running as root, the embedded cluster needs the 'postgres' system user "
                "(created by Debian's postgresql-15 package)"
            ) from None
        for path in (self.root, *self.root.rglob("*")):
            if path.is_symlink():
                continue
            try:
                st = path.stat()
                if st.st_uid != owner.pw_uid:
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            except FileNotFoundError:
                continue
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(self.root)], check=False
        )
        if probe.returncode != 0:
            raise EmbeddedPostgresError(
                f"the postgres user cannot reach {self.root}: a parent folder is closed to "
                "other users (e.g. under /root); set MARKET_DATA_HOME to a folder it can reach"
            )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        bindir = find_server_bindir()
        result = self._run_as_owner(
            [str(bindir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False
        )
        return result.returncode == 0

    def start(self) -> None:
        """Initialise (first time) and start the cluster; a running one is reused."""
        with self._lock():
            if self.is_running() and self._accepts_connections():
                return
            bindir = find_server_bindir()
            self._prepare_root()
            if not (self.data_dir / "PG_VERSION").exists():
                self._run_as_owner(
                    [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                     "--auth=trust", "--encoding=UTF8", "--locale=C"]
                )  # fmt: skip
            self.socket_dir.mkdir(exist_ok=True)
            port_file = self.root / "port"
            port = int(port_file.read_text()) if port_file.exists() else 0
            if not port or not _port_is_free(port):
                port = _free_port()
            port_file.write_text(str(port))
            self._prepare_root()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {self.socket_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            self._run_as_owner(
                [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data_dir),
                 "-l", str(self.log_file), "-o", options]
            )  # fmt: skip
            self._wait_until_ready()

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=3):
                return True
        except (psycopg.OperationalError, OSError, ValueError):
            return False

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._accepts_connections():
                return
            time.sleep(0.2)
        raise EmbeddedPostgresError(
            f"PostgreSQL in {self.data_dir} did not accept connections:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        if self.is_running():
            bindir = find_server_bindir()
            self._run_as_owner(
                [str(bindir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.data_dir)]
            )

    def ensure_database(self, dbname: str) -> str:
        """Create ``dbname`` if missing; its URL."""
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
    cluster = EmbeddedPostgres(home / "postgres")
    cluster.start()
    return cluster.ensure_database(dbname)
