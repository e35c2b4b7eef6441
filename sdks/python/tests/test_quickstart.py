"""The seed document's Python quickstart, run verbatim as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from j0 import J0Client
from j0_server import J0Server

from conftest import new_key

QUICKSTART = (Path(__file__).parent / "fixtures" / "quickstart.py.txt").read_text()
"""The seed document's quickstart, word for word; ``scripts/test.sh`` runs the same file."""


def test_seed_quickstart_runs_verbatim(server: J0Server, tmp_path: Path) -> None:
    key = new_key()
    script = tmp_path / "quickstart.py"
    script.write_text(QUICKSTART.replace('"0x..."', f'"{key}"'))
    env = {**os.environ, "J0_BASE_URL": server.base_url}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(r"Job posted: (\d+)\n", done.stdout)
    assert match, done.stdout
    with J0Client(key, base_url=server.base_url) as client:
        job = client.get_job(int(match.group(1)))
        assert job.requester_id == client.me().id
        assert (job.capability, job.credits, job.timeout_sec, job.prompt) == (
            "opus", 10, 30, "Summarize this...")
        assert client.get_balance().total_cents == 1000 - 10
