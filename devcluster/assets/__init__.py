"""Non-Python files shipped with devcluster: the Vagrantfile, provisioning scripts, kind base config.

They live at the top of the repository (vagrant/, provisioning/, kind/)
and a wheel carries them under devcluster/assets/; ``asset_dir`` finds
either, so a `pip install .` and a checkout behave the same.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent.parent


def asset_dir(name: str) -> Path:
    for candidate in (_HERE / name, _REPO / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"devcluster asset directory {name!r} is missing from this installation")
