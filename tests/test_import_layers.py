"""The import contracts in pyproject.toml hold: shared's packages are layers
(ops over messaging over security over web, over the database base), no
module circle inside them, the services and the portal independent of each
other. `lint-imports` prints the offending import chains when one breaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
