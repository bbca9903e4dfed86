"""`gridbot demo` as a newcomer meets it: how long until the page answers, and how long
Ctrl-C takes to stop it (and whether it left anything behind).

    python bench/demo.py [--runs 3]

Each run starts `python -m bot demo --port 0` in a fresh temporary folder, loads the
page and its config once the address is printed, sends SIGINT and waits for the exit.
Prints the figures per run and the worst of them.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run() -> tuple[float, float, int]:
    """Seconds to a served page, seconds from SIGINT to exit, files left behind."""
    with tempfile.TemporaryDirectory() as temporary:
        began = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": temporary},
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        url = found.group(0)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"chat.js" in page.read()
        with urllib.request.urlopen(url + "api/config", timeout=10) as config:
            config.read()
        served = time.monotonic() - began
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        stopped = time.monotonic() - stopping
        left = len(list(Path(temporary).iterdir()))
    return served, stopped, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = []
    for number in range(1, runs + 1):
        served, stopped, left = one_run()
        results.append((served, stopped, left))
        print(
            f"run {number}: page served {served:.2f} s after start; "
            f"stopped {stopped:.2f} s after Ctrl-C; files left: {left}"
        )
    print(
        f"worst of {runs}: page served {max(r[0] for r in results):.2f} s, "
        f"stopped {max(r[1] for r in results):.2f} s, files left {max(r[2] for r in results)}"
    )


if __name__ == "__main__":
    main()
