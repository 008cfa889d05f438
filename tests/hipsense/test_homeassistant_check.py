"""Home Assistant's own code on every payload hipsense publishes and on the blueprint
(``integrations/homeassistant/check.py``). Runs only where that script's venv exists (it installs Home
Assistant, about 1 GB, which the suite never does); otherwise skipped with the command to make it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "integrations" / "homeassistant" / "check.py"
VENV = REPO / ".ha-venv"
PY = VENV / "bin" / "python"


def _has_ha() -> bool:
    if not PY.exists():
        return False
    return subprocess.run([str(PY), "-c", "import homeassistant, nacl"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _has_ha(), reason=f"no Home Assistant venv at {VENV}: run 'python {CHECK.relative_to(REPO)}' once to make it"
)


def test_home_assistant_accepts_every_discovery_config_template_and_the_blueprint() -> None:
    proc = subprocess.run([sys.executable, str(CHECK), "--no-install"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "all passed"
    assert sum(line.startswith("ok   homeassistant/") for line in lines) == 12
    assert any("template activity on unknown: Home Assistant shows None" in line for line in lines)
    assert any(line.startswith("ok   blueprint automation") for line in lines)


def test_the_check_fails_on_a_config_home_assistant_refuses(tmp_path: Path) -> None:
    sys.path.insert(0, str(CHECK.parent))
    try:
        import check  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(CHECK.parent))
    doc = check.build("hipsense/anna/alert")
    # An enum sensor with a unit: Home Assistant refuses it.
    activity = next(d for d in doc["discovery"] if d["topic"].endswith("/activity/config"))
    activity["payload"]["unit_of_measurement"] = "°"
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([str(PY), str(CHECK.parent / "_ha_side.py"), str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert any(
        line.startswith("FAIL homeassistant/sensor/hipsense_anna/activity/config") for line in proc.stdout.splitlines()
    )
