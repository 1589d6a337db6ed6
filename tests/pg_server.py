"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data directory,
a free loopback port; stopped (and the directory removed) at the end.

PostgreSQL refuses to run as root, so under root the server runs as ``nobody`` with the
directory handed to that user (``runuser``); as any other user it runs as that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from bench._server import free_port

RUN_AS = "nobody"


def binaries() -> str | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[-3])
    )
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yields its admin URL (user postgres, trust auth, loopback only)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    root = os.geteuid() == 0
    prefix = ["runuser", "-u", RUN_AS, "--"] if root else []
    tmp = tempfile.mkdtemp(prefix="fpe-pg-")
    data, log = os.path.join(tmp, "data"), os.path.join(tmp, "server.log")
    if root:
        shutil.chown(tmp, RUN_AS)
        os.chmod(tmp, 0o700)
    port = free_port()
    try:
        subprocess.run(
            [
                *prefix,
                f"{bin_dir}/initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        options = (
            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        subprocess.run(
            [
                *prefix,
                f"{bin_dir}/pg_ctl",
                "-D",
                data,
                "-l",
                log,
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                capture_output=True,
                cwd=tmp,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(admin_url: str, name: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}"')  # test-made names only
        con.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
