"""The soak's deployment on one machine: PostgreSQL (data and Dagster's storage, one server
as by default), the local S3 server behind a fault-injecting proxy, the REST stand-in, a
landing area on a small filesystem of its own (so that it can fill up), and Dagster's code
server and daemon on the repository's ``dagster.yaml`` (run queue, concurrency limits).

``World`` is a context manager: whatever happens, every process it started is stopped
(by process group, each started in a session of its own), the file system is unmounted
and the folder removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml
from botocore.config import Config

from market_data.instance import REPO_ROOT
from market_data.ui import LOCATION, write_grpc_workspace
from market_data_local.detached import free_port
from market_data_local.postgres import EmbeddedPostgres
from market_data_local.rest_server import LocalRestServer
from market_data_local.s3 import LOCAL_CREDENTIALS, LocalS3Server
from market_data_tests.soak import clock
from market_data_tests.soak.plan import REQUESTS_ENV, Plan
from market_data_tests.soak.source import rest_results

BIN = Path(sys.executable).parent
BUCKET = "flatfiles"
API_KEY = "soak-rest-key"
LANDING_SIZE_MB = 512
CODE_SERVER = (
    "code-server",
    "start",
    "-h",
    "127.0.0.1",
    "-m",
    "market_data_tests.soak.location",
    "--location-name",
    LOCATION,
)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _new_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="md-soak-"))
    root.chmod(0o755)  # as root, PostgreSQL runs as `postgres`, which must reach its folder
    return root


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class World:
    plan: Plan
    source: Path  # the generated files (source.version_path)
    root: Path = field(default_factory=lambda: _new_root())
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    mounted: bool = False

    # -- paths ------------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def clock_file(self) -> Path:
        return self.root / "clock"

    @property
    def requests_file(self) -> Path:
        return self.root / "requests.jsonl"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    # -- servers ----------------------------------------------------------------------------

    def __enter__(self) -> World:
        try:
            self._start_servers()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_servers(self) -> None:
        self.pg = EmbeddedPostgres(self.root / "pg")
        self.pg.start()
        self.database_url = self.pg.ensure_database("market_data")
        self.dagster_url = self.pg.ensure_database("dagster")
        self.s3 = LocalS3Server(self.root / "s3")
        self.s3_endpoint = self.s3.start()
        self.s3_client().create_bucket(Bucket=BUCKET)
        from market_data_tests.s3_fault_proxy import S3FaultProxy

        self.proxy = S3FaultProxy(self.s3_endpoint).start()
        self.rest = LocalRestServer(
            API_KEY, lambda ticker, day: rest_results(self.source, ticker, day)
        )
        self.rest.state.max_per_second = 20  # the plan's limit, enforced with 429s
        self.rest.start()
        self.landing.mkdir(parents=True)
        self.mounted = os.geteuid() == 0 and self._mount_landing()
        self.dagster_home.mkdir()
        # The repository's instance (storage, run queue, concurrency, run retries), its
        # queue polled every second instead of two: a simulated day lasts seconds.
        config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
        (self.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
        self.env = {
            "DATABASE_URL": self.database_url,
            "DAGSTER_PG_URL": self.dagster_url,
            "DAGSTER_HOME": str(self.dagster_home),
            "MASSIVE_S3_ENDPOINT": self.proxy.endpoint,
            "MASSIVE_S3_BUCKET": BUCKET,
            "MASSIVE_AWS_ACCESS_KEY": LOCAL_CREDENTIALS["aws_access_key_id"],
            "MASSIVE_AWS_SECRET_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
            "MASSIVE_API_KEY": API_KEY,
            "MASSIVE_API_BASE_URL": self.rest.base_url,
            "MASSIVE_API_REQUESTS_PER_MINUTE": "600",
            "MARKET_DATA_REST_WINDOW_DAYS": "2",
            "MARKET_DATA_HOME": str(self.home),
            "MARKET_DATA_START_DATE": self.plan.prehistory_start.isoformat(),
            "MARKET_DATA_WATCHLIST_BACKFILL_DAYS": str(self.plan.backfill_days),
            "MARKET_DATA_DAY_WORKERS": "2",
            clock.CLOCK_ENV: str(self.clock_file),
            REQUESTS_ENV: str(self.requests_file),
            "PYTHONPATH": str(REPO_ROOT),
        }
        self.requests_file.write_text("")

    def _mount_landing(self) -> bool:
        """A filesystem of its own for the landing area, so that it can be filled."""
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={LANDING_SIZE_MB}m", "tmpfs", str(self.landing)],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def s3_client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            config=Config(signature_version="s3v4"),
            **LOCAL_CREDENTIALS,
        )

    def subprocess_env(self) -> dict[str, str]:
        ours = ("MASSIVE_", "DAGSTER_", "MARKET_DATA_", "DATABASE_URL")
        kept = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        return kept | self.env

    # -- Dagster ----------------------------------------------------------------------------

    def _background(self, name: str, args: list[str]) -> subprocess.Popen:
        with self.log(name).open("a") as out:
            process = subprocess.Popen(
                args,
                env=self.subprocess_env(),
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_dagster(self, timeout: float = 120) -> None:
        code_port = free_port()
        self.workspace = write_grpc_workspace(self.dagster_home / "workspace.yaml", code_port)
        code = self._background(
            "code-server", [str(BIN / "dagster"), *CODE_SERVER, "-p", str(code_port)]
        )
        deadline = time.monotonic() + timeout
        while not _answers(code_port):
            if code.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the code server did not start:\n{log_tail(self.log('code-server'))}"
                )
            time.sleep(0.3)
        self._background("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)])

    def code_server_pids(self) -> set[int]:
        """The code server and every process under it (its gRPC server, the run workers)."""
        code = self.processes.get("code-server")
        if code is None:
            return set()
        pids = {code.pid}
        grew = True
        while grew:
            grew = False
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) in pids:
                    continue
                with suppress(OSError, ValueError, IndexError):
                    stat = (entry / "stat").read_text()
                    ppid = int(stat.rsplit(")", 1)[1].split()[1])
                    if ppid in pids:
                        pids.add(int(entry.name))
                        grew = True
        return pids

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"the {name} exited ({process.returncode}):\n{log_tail(self.log(name))}"
                )

    # -- faults -----------------------------------------------------------------------------

    def restart_postgres(self) -> float:
        started = time.monotonic()
        self.pg.stop()
        self.pg.start()
        return time.monotonic() - started

    def fill_landing(self) -> bool:
        """Take every free byte of the landing area (only where it has a filesystem of its own)."""
        if not self.mounted:
            return False
        filler = self.landing / ".soak-filler"
        free = shutil.disk_usage(self.landing).free
        with filler.open("wb") as out, suppress(OSError):
            os.posix_fallocate(out.fileno(), 0, free)
        return True

    def free_landing(self) -> None:
        (self.landing / ".soak-filler").unlink(missing_ok=True)

    # -- the end ----------------------------------------------------------------------------

    def stop_dagster(self) -> None:
        for name in ("daemon", "code-server"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)  # the group it leads: itself and its children
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # Run workers outlive a code server stopped by signal: the group takes them too.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        self.stop_dagster()
        for stop in (
            lambda: self.rest.stop(),
            lambda: self.proxy.stop(),
            lambda: self.s3.stop(),
            lambda: self.pg.stop(),
        ):
            with suppress(Exception):
                stop()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.landing)], check=False)
            self.mounted = False
        shutil.rmtree(self.root, ignore_errors=True)
