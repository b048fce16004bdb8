"""The GitHub Action (action.yml, issue 18). actionlint lints workflows, not action metadata, so the action's
schema is checked here: the keys GitHub requires, every `${{ inputs.x }}` declared and every input used,
a shell on every run step, shellcheck on every run script; and its helper scripts are run for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devcluster.config import versions

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
INPUTS = {"mode", "provider", "kubernetes-version", "config", "skip-stack", "e2e"}
SHELLCHECK = shutil.which("shellcheck")


def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def steps() -> list[dict]:
    return action()["runs"]["steps"]


def test_metadata_has_what_github_requires_and_is_composite() -> None:
    doc = action()
    assert {"name", "description", "runs"} <= set(doc)
    assert doc["runs"]["using"] == "composite"
    assert set(doc["inputs"]) == INPUTS
    for name, spec in doc["inputs"].items():
        assert spec.get("description"), name
        assert "default" in spec and isinstance(spec["default"], str), f"{name}: inputs are strings"
    assert doc["inputs"]["provider"]["default"] == "kind" and doc["inputs"]["mode"]["default"] == "up"


def test_every_expression_input_is_declared_and_every_input_is_used() -> None:
    text = ACTION.read_text()
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used <= set(action()["inputs"]), used - set(action()["inputs"])
    assert used == INPUTS, INPUTS - used
    outputs = action()["outputs"]
    ids = {s.get("id") for s in steps()}
    for out in outputs.values():
        (step_id,) = re.findall(r"steps\.([a-z-]+)\.outputs", out["value"])
        assert step_id in ids


def test_every_run_step_sets_a_shell_and_never_puts_an_expression_in_a_script() -> None:
    for step in steps():
        if "run" in step:
            assert step.get("shell") == "bash", step
            # inputs reach scripts through env:, never pasted into the script (script injection)
            assert "${{" not in step["run"], step["name"]
        else:
            assert "uses" in step, step


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (scripts/test-setup.sh)")
def test_shellcheck_is_clean_on_every_run_script_and_helper(tmp_path: Path) -> None:
    scripts = [ROOT / "scripts" / "action-env.sh", ROOT / "scripts" / "pull-node-image.sh"]
    for i, step in enumerate(s for s in steps() if "run" in s):
        path = tmp_path / f"step-{i}.sh"
        path.write_text("#!/usr/bin/env bash\nset -e\n" + step["run"])
        scripts.append(path)
    proc = subprocess.run([str(SHELLCHECK), "-s", "bash", *map(str, scripts)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_up_installs_resolves_pulls_then_runs_up_and_collects_only_on_failure() -> None:
    names = [s["name"] for s in steps()]
    order = [next(i for i, s in enumerate(steps()) if needle in s.get("run", "") + s.get("uses", ""))
             for needle in ("actions/setup-python", "pip install", "action-resolve.py", "install-tools.sh",
                            "pull-node-image.sh", "devcluster \"${args[@]}\"", "GITHUB_ENV", "devcluster e2e",
                            "collect-diagnostics.sh", "devcluster down")]
    assert order == sorted(order), names
    by_name = {s["name"]: s for s in steps()}
    assert "failure()" in by_name["Collect diagnostics"]["if"]
    assert by_name["devcluster down"]["if"] == "inputs.mode == 'down'"
    assert "--purge" in by_name["devcluster down"]["run"]
    assert "KUBECONFIG=" in by_name["Export KUBECONFIG"]["run"]


def run_env_script(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], str]:
    env_file, out_file, path_file = tmp_path / "env", tmp_path / "out", tmp_path / "path"
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path / "runner"), "GITHUB_ENV": str(env_file),
           "GITHUB_OUTPUT": str(out_file), "GITHUB_PATH": str(path_file), "INPUT_MODE": "up",
           "INPUT_PROVIDER": "kind", "INPUT_CONFIG": "", **inputs}
    (tmp_path / "runner").mkdir(exist_ok=True)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "action-env.sh")], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    return proc, env_file.read_text() if env_file.exists() else ""


def test_env_script_shares_the_state_dir_between_up_and_down_and_refuses_bad_input(tmp_path: Path) -> None:
    cfg = tmp_path / "ci.yaml"
    cfg.write_text("name: ci-cluster\n")
    proc, env = run_env_script(tmp_path, INPUT_CONFIG=str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert f"DEVCLUSTER_STATE_DIR={tmp_path}/runner/devcluster-state" in env
    assert "DEVCLUSTER_NAME=ci-cluster" in env and f"DEVCLUSTER_CONFIG={cfg}" in env
    bad, _ = run_env_script(tmp_path, INPUT_MODE="sideways")
    assert bad.returncode == 2 and "mode must be up or down" in bad.stdout
    missing, _ = run_env_script(tmp_path, INPUT_CONFIG="nope.yaml")
    assert missing.returncode == 2 and "does not exist" in missing.stdout


def resolve(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    env_file = tmp_path / "github-env"
    env_file.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "action-resolve.py"), *args], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "GITHUB_ENV": str(env_file), "PYTHONPATH": str(ROOT)})
    return proc, env_file.read_text() if env_file.exists() else ""


def test_resolve_writes_the_versions_pins_and_refuses_an_unsupported_version(tmp_path: Path) -> None:
    proc, env = resolve(tmp_path, "1.33", "")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = versions.VERSIONS["1.33"]
    assert f"NODE_IMAGE={row.kind_node_image}" in env and "KUBECTL_VERSION=v1.33.12" in env
    assert "DEVCLUSTER_KUBERNETES_VERSION=1.33" in env
    default, env = resolve(tmp_path, "", "")
    assert default.returncode == 0 and "DEVCLUSTER_KUBERNETES_VERSION=1.30" in env
    refused, env = resolve(tmp_path, "1.29", "")
    assert refused.returncode == 2 and "::error::kubernetes_version" in refused.stdout and env == ""


def test_readme_shows_the_lines_a_project_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use it in GitHub Actions"):]
    snippet = section[section.index("```yaml") + len("```yaml"):section.index("```", section.index("```yaml") + 7)]
    doc = yaml.safe_load(snippet)
    assert doc[0]["uses"].endswith("/devcluster@main") and doc[1]["if"] == "always()"
    assert doc[1]["with"]["mode"] == "down"


ACTIONLINT = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(ACTIONLINT is None or shutil.which("git") is None, reason="actionlint or git is not installed")
def test_actionlint_checks_the_nightly_against_the_actions_inputs(tmp_path: Path) -> None:
    """actionlint reads action.yml for `uses: ./` (in a git work tree): the nightly passes, and a workflow
    passing an input the action does not declare is refused."""
    assert ACTIONLINT is not None
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    nightly = (ROOT / ".github" / "workflows" / "nightly-e2e.yml").read_text()
    (workflows / "nightly.yml").write_text(nightly)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    ok = subprocess.run([ACTIONLINT, ".github/workflows/nightly.yml"], capture_output=True, text=True, cwd=tmp_path,
                        timeout=120)
    assert ok.returncode == 0, ok.stdout
    (workflows / "nightly.yml").write_text(nightly.replace('e2e: "true"', 'e2e: "true"\n          kubernetes: "1.33"'))
    bad = subprocess.run([ACTIONLINT, ".github/workflows/nightly.yml"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert bad.returncode == 1 and 'input "kubernetes" is not defined in action "devcluster"' in bad.stdout
