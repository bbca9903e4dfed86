"""Running the gridbot command as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import TEST_TOKEN


def gridbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
