"""The nightly E2E workflow: valid per actionlint, and it does what the nightly job must do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly-e2e.yml"


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed (scripts/test-setup.sh)")
def test_actionlint_is_clean() -> None:
    proc = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nightly_and_manual_triggers_and_step_order() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = doc["jobs"]["kind"]
    assert job["runs-on"].startswith("ubuntu") and job["timeout-minutes"] <= 90
    assert job["env"]["KIND_VERSION"] == "v0.29.0"
    runs = [s.get("run", "") for s in job["steps"]]
    order = [next(i for i, r in enumerate(runs) if needle in r) for needle in (
        "install-tools.sh", "pip install .", "devcluster up --provider kind", "devcluster e2e", "check nodes",
        "devcluster logs", "devcluster down")]
    assert order == sorted(order)
    by_run = {s.get("run", s.get("uses", "")): s for s in job["steps"]}
    logs = next(s for r, s in by_run.items() if "devcluster logs" in r)
    down = next(s for r, s in by_run.items() if "devcluster down" in r)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert logs["if"] == "failure()" and down["if"] == "always()" and upload["if"] == "always()"
    assert "--junitxml" in next(r for r in runs if "devcluster e2e" in r)
