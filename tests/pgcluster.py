"""A throwaway PostgreSQL cluster for the tests, the benchmarks and CI.

``initdb`` in a temporary folder and ``pg_ctl`` on a free loopback port, trust
authentication, ``fsync`` off (the cluster is thrown away). As root (CI runs as root)
the cluster runs as the ``postgres`` user, which the PostgreSQL packages create: the
server refuses to run as root.

    python -m tests.pgcluster start DIR   # prints the URL; the cluster runs on
    python -m tests.pgcluster stop DIR
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

USER = "gridbot"
BINARIES = ("/usr/local/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in BINARIES:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


def available() -> bool:
    return binary("initdb") is not None and binary("pg_ctl") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def start(folder: Path) -> str:
    """Create and start a cluster in ``folder``; returns its URL (database ``postgres``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        folder.chmod(0o755)
    subprocess.run(
        _as_owner(
            [
                binary("initdb") or "initdb",
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400 "
        "-c shared_buffers=64MB"
    )
    subprocess.run(
        _as_owner(
            [
                binary("pg_ctl") or "pg_ctl",
                "-D",
                str(data),
                "-l",
                str(folder / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    url = f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    (folder / "url").write_text(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not start")


def stop(folder: Path) -> None:
    subprocess.run(
        _as_owner(
            [
                binary("pg_ctl") or "pg_ctl",
                "-D",
                str(Path(folder) / "data"),
                "-m",
                "immediate",
                "stop",
            ]
        ),
        check=False,
        capture_output=True,
    )


if __name__ == "__main__":
    action, where = sys.argv[1], Path(sys.argv[2])
    if action == "start":
        print(start(where))
    else:
        stop(where)
