"""Two lifecycle replicas may follow one run's output at once (a restarted replica resumes every follow it finds
unfinished, the other replica's too): their saves of the run's offsets must not break each other. With one
temporary file name for both, one process's rename moved the other's file away and that follow died."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAVER = """
import sys
from pathlib import Path
from services.lifecycle.sessions.logs import SessionLogs

logs = SessionLogs(None, lambda s, r: Path("/nonexistent"), None, Path(sys.argv[1]))  # only its offsets are used
for n in range(2000):
    logs._save("s1", {"run": 1, "sent": n, "ended": False})
"""


def test_two_replicas_saving_one_runs_offsets_at_once_both_succeed(tmp_path: Path) -> None:
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path)], stderr=subprocess.PIPE)
              for _ in range(2)]
    results = [(p.wait(120), p.stderr.read().decode() if p.stderr else "") for p in savers]
    assert [code for code, _ in results] == [0, 0], [err[-500:] for _, err in results]
    assert (tmp_path / "s1.json").read_text() == '{"run": 1, "sent": 1999, "ended": false}'
