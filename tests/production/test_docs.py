"""docs/ENVIRONMENT.md lists every variable settings.py reads."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_read_from_the_environment_is_documented():
    source = (ROOT / "aimonitor" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"', source))
    assert len(names) > 50
    documented = set(re.findall(r"`([A-Z0-9_]+)`", (ROOT / "docs" / "ENVIRONMENT.md").read_text()))
    missing = sorted(names - documented)
    assert not missing, f"add these to docs/ENVIRONMENT.md: {missing}"


def test_scripts_variables_are_documented():
    documented = set(re.findall(r"`([A-Z0-9_]+)`", (ROOT / "docs" / "ENVIRONMENT.md").read_text()))
    used = set()
    for script in ROOT.glob("scripts/start_*.sh"):
        used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", script.read_text()))
    missing = sorted(used - documented - {"TMPDIR"})
    assert not missing, f"add these to docs/ENVIRONMENT.md: {missing}"
