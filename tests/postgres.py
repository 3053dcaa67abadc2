"""A throwaway PostgreSQL server (Debian's postgresql package, run as the `postgres` user when the tests run as
root) that a test can stop and start again: the feedback fixtures' server, and outages of the tests' own."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One data folder on a free loopback port; `url` reaches it while it runs."""

    def __init__(self, bin_dir: Path, run_as: list[str], folder: Path) -> None:
        self.bin_dir, self.run_as, self.folder = bin_dir, run_as, folder
        self.data, self.sockets = folder / "data", folder / "sock"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        command = [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=check, capture_output=True)

    def initdb(self) -> None:
        command = [
            *self.run_as,
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
        ]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.folder / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stops the server; `immediate`: as a crash would, every connection dropped at once."""
        self._pg_ctl("-m", mode, "-w", "stop", check=False)


@contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """A started cluster, removed afterwards; the test is skipped where PostgreSQL is not installed."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql): PostgreSQL tests skipped")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="ragtune-pg-"))  # not under pytest's 0700 tmp: postgres must enter
    cluster = Cluster(
        Path(binaries[-1]).parent, ["runuser", "-u", "postgres", "--"] if as_root else [], folder
    )
    cluster.sockets.mkdir()
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(cluster.sockets, "postgres")
    try:
        cluster.initdb()
        cluster.start()
    except subprocess.CalledProcessError as err:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {err.stderr.decode(errors='replace')[-500:]}")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
