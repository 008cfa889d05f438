import pytest

from hipsense.cli import main
from hipsense.config import config_path, data_dir, load_config, mask_url
from processing.errors import ConfigError


def test_hipsense_home_moves_config_and_data(home):
    assert config_path() == home / "config.toml"
    assert data_dir() == home / "data"


def test_missing_config_gives_defaults(home):
    cfg = load_config()
    assert cfg.wearer.id == "me"
    assert cfg.alerts.prolonged_sitting_s == 1800.0


def test_config_show_masks_secrets(home, capsys):
    (home / "config.toml").write_text(
        '[wearer]\nid = "anna"\n[mqtt]\nurl = "mqtt://anna:hunter2@10.0.0.5:1883"\npassword = "s3cret!"\n'
    )
    assert main(["config", "--show"]) == 0
    out = capsys.readouterr().out
    assert 'id = "anna"' in out
    assert "hunter2" not in out and "s3cret!" not in out
    assert "mqtt://anna:********@10.0.0.5:1883" in out


def test_misspelt_key_names_file_and_key(home, capsys):
    (home / "config.toml").write_text("[alerts]\nprolonged_siting_s = 60\n")
    with pytest.raises(ConfigError, match=r"config.toml: unknown key 'prolonged_siting_s' in \[alerts\]"):
        load_config()
    assert main(["config", "--show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "prolonged_siting_s" in err and "Traceback" not in err


def test_wrong_type_and_bad_toml_are_one_line_errors(home):
    (home / "config.toml").write_text("[alerts]\nanterior_tilt_deg = 'ten'\n")
    with pytest.raises(ConfigError, match="anterior_tilt_deg = 'ten' has the wrong type"):
        load_config()
    (home / "config.toml").write_text("[alerts\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config()


def test_invalid_wearer_id_is_refused(home):
    (home / "config.toml").write_text('[wearer]\nid = "Anna Smith"\n')
    with pytest.raises(ConfigError, match="wearer id 'Anna Smith' is invalid"):
        load_config()


def test_mask_url_keeps_urls_without_password():
    assert mask_url("mqtts://broker.local:8883") == "mqtts://broker.local:8883"
    assert mask_url("mqtt://u:p@h:1") == "mqtt://u:********@h:1"


def test_alert_settings_reach_the_rules(home):
    (home / "config.toml").write_text(
        '[alerts]\nprolonged_sitting_s = 1200\nquiet_hours = "22:00-07:00"\n[alerts.cooldown_s]\nanterior_tilt = 120\n'
    )
    cfg = load_config()
    assert cfg.alerts.prolonged_sitting_s == 1200.0
    assert cfg.alerts.cooldown("anterior_tilt") == 120.0
    assert cfg.alerts.cooldown("battery_low") == 3600.0


def test_invalid_alert_setting_is_a_config_error(home):
    (home / "config.toml").write_text('[alerts]\nquiet_hours = "late"\n')
    with pytest.raises(ConfigError, match=r"config.toml: \[alerts\] quiet_hours 'late' is not HH:MM-HH:MM"):
        load_config()


# issue 11, row 15: a wildcard prefix
@pytest.mark.parametrize("line", ['discovery_prefix = "home/#"', 'discovery_prefix = "ha/+/x"', 'base_topic = "a//b"'])
def test_wildcard_topics_in_the_config_are_refused_naming_the_key(home, line, capsys):
    (home / "config.toml").write_text(f"[mqtt]\n{line}\n")
    assert main(["config", "--show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and line.split()[0] in err.splitlines()[0]
