"""Running the gridbot command as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def gridbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
