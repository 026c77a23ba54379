"""Settings: every environment variable parsed once per environment, typed, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.settings import VARIABLES, BadSetting, Settings, settings

pytestmark = pytest.mark.unit


def test_defaults_and_overrides(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    default = settings()
    assert default.late_grace_minutes == 30 and default.deadline_alerts is True
    assert default.home == Path(".tierflow") and default.database_url is None
    monkeypatch.setenv("TIERFLOW_LATE_GRACE_MINUTES", "45")
    monkeypatch.setenv("TIERFLOW_DEADLINE_ALERTS", "0")
    changed = settings()
    assert changed.late_grace_minutes == 45 and changed.deadline_alerts is False
    assert settings() is changed  # parsed once for the same environment


def test_every_field_has_its_variable():
    assert set(VARIABLES.values()) == set(Settings.model_fields)
    # CITUS_SOURCE is the one name design §2 and issue #16 give without the prefix
    assert all(name.startswith("TIERFLOW_") for name in VARIABLES if name != "CITUS_SOURCE")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIERFLOW_LATE_GRACE_MINUTES", "half an hour"),
        ("TIERFLOW_SINK_WORKERS", "0"),
        ("TIERFLOW_BLOCK_BYTES", "12"),
        ("TIERFLOW_LINEAGE_POSTGRES", "postgres"),  # host:port, the port is needed
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(BadSetting) as err:
        settings()
    message = str(err.value)
    assert message.startswith(f"{name}=") and "\n" not in message


def test_no_module_reads_the_environment_itself():
    """Apart from the settings and the secret lookups, nobody reads os.environ."""
    root = Path(__file__).resolve().parents[2] / "plugins" / "tierflow"
    allowed = {"settings.py", "secrets.py", "demo_keys.py", "db.py", "signing.py"}
    readers = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "os.environ.get(" in p.read_text(encoding="utf-8") and p.name not in allowed
    ]
    assert readers == []
