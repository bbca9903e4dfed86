"""Running the gridbot command as a real process.

``gridbot`` (a command that runs and ends: import, check, backup, export…) runs in a
process of its own, forked from a server process that has already imported ``bot``
(multiprocessing's forkserver): the same code as ``python -m bot`` with its own working
folder, environment, output and exit status, without two seconds of imports each time.
``GRIDBOT_TEST_EXEC=1`` runs ``python -m bot`` itself instead. ``start_gridbot`` (for
``gridbot run``, signals and kills) always starts ``python -m bot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import TEST_TOKEN

TIMEOUT = 60
# What ``python -m bot`` imports, imported once by the server the commands are forked from.
PRELOAD = [
    "bot.ops.cli",
    "bot.ops.maintenance",
    "bot.formats.tipfile",
    "bot.formats.tiptable",
    "bot.outlets.hub",
]


def gridbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``gridbot ARGS`` in ``cwd``, waited for (at most a minute); its output as text."""
    command = [sys.executable, "-m", "bot", *args]
    if os.environ.get("GRIDBOT_TEST_EXEC"):
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    with tempfile.TemporaryDirectory(prefix="gridbot-cli-") as folder:
        out, err = Path(folder, "out"), Path(folder, "err")
        process = _forkserver().Process(
            target=_main, args=(list(args), str(cwd), dict(os.environ), str(out), str(err))
        )
        process.start()
        process.join(TIMEOUT)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, TIMEOUT)
        return subprocess.CompletedProcess(
            command,
            process.exitcode,
            out.read_text(encoding="utf-8"),
            err.read_text(encoding="utf-8"),
        )


def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _main(args: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the forked process: ``python -m bot ARGS`` as the interpreter would run it, with
    stdout and stderr going to the files ``out`` and ``err``; exits with its status."""
    import atexit
    import runpy
    import traceback

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.argv = ["-m", *args]
    status = 0
    try:
        runpy.run_module("bot", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, as after a broken pipe
            stream.flush()
    os._exit(status)


async def start_gridbot(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdout: Any = asyncio.subprocess.PIPE,
    stderr: Any = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """``gridbot ARGS`` (``python -m bot``) as a separate process, not waited for; by
    default with the test token in its environment and its output unbuffered."""
    if env is None:
        env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env, stdout=stdout, stderr=stderr
    )


async def stop_gridbot(process: asyncio.subprocess.Process, timeout: float = 30) -> str:
    """SIGTERM to a process started by ``start_gridbot``; what it wrote (stdout, then
    stderr) once it has ended."""
    process.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return (out or b"").decode() + (err or b"").decode()
