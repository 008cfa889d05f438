"""Run by ``check.py`` inside a venv with Home Assistant installed (not importable from hipsense).

Reads the JSON that check.py wrote (every discovery config hipsense publishes, sample payloads of each topic,
the blueprint's path) and checks them with Home Assistant's own code:

- each discovery config through the ``DISCOVERY_SCHEMA`` of its platform in ``homeassistant.components.mqtt``
  (which also runs the sensor's device-class / unit / state-class checks);
- each entity's ``value_template`` rendered by Home Assistant's template engine on sample payloads of its
  state topic, and the state Home Assistant would show (a rendered ``None`` is its unknown state);
- the blueprint loaded with Home Assistant's YAML loader and automation blueprint schema, its inputs
  substituted, and the result through the automation schema, the MQTT trigger schema and the companion
  app's notify action schema.

Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import tempfile
from typing import Any

import voluptuous as vol
from homeassistant.const import __version__ as HA_VERSION

FAILED: list[str] = []


def report(ok: bool, what: str, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail else ""))
    if not ok:
        FAILED.append(what)


def check_discovery(configs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    validated = {}
    for item in configs:
        topic, payload = item["topic"], item["payload"]
        component = topic.split("/")[-4]
        module = importlib.import_module(f"homeassistant.components.mqtt.{component}")
        try:
            config = module.DISCOVERY_SCHEMA(dict(payload))
        except vol.Invalid as exc:
            report(False, topic, str(exc))
            continue
        dropped = sorted(set(payload) - set(config))
        report(not dropped, topic, f"keys dropped by Home Assistant: {dropped}" if dropped else "")
        validated[topic] = config
    return validated


def check_templates(hass: Any, configs: dict[str, dict[str, Any]], expect: list[dict[str, Any]]) -> None:
    from homeassistant.helpers.template import Template

    if True:
        for case in expect:
            config = configs.get(case["discovery_topic"])
            if config is None:
                report(False, f"template {case['discovery_topic']}", "no validated config")
                continue
            tpl = config.get("value_template")
            if tpl is None:
                continue
            template = Template(tpl.template if isinstance(tpl, Template) else str(tpl), hass)
            rendered = template.async_render_with_possible_json_value(case["payload"], "<error>")
            shown = None if rendered == "None" else rendered
            ok = shown == case["shown"]
            if ok and shown is not None and config.get("options"):
                ok = shown in config["options"]
            what = f"{case['discovery_topic'].split('/')[-2]} on {case['label']}"
            report(ok, f"template {what}", f"Home Assistant shows {shown!r}, expected {case['shown']!r}")


def check_blueprint(path: str, inputs: dict[str, Any]) -> None:
    from homeassistant.components.automation import config as automation_config
    from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
    from homeassistant.components.mqtt.trigger import TRIGGER_SCHEMA
    from homeassistant.util.yaml import load_yaml_dict

    try:
        data = load_yaml_dict(path)
        schema = getattr(automation_config, "AUTOMATION_BLUEPRINT_SCHEMA", None)  # 2024.10 and later
        extra = {} if schema is None else {"schema": schema}
        blueprint = Blueprint(data, path=path, expected_domain="automation", **extra)
    except Exception as exc:  # Home Assistant's own errors: report them all the same way
        report(False, f"blueprint {path}", f"{type(exc).__name__}: {exc}")
        return
    report(True, f"blueprint {path}", f"loaded: {blueprint.name!r}, inputs {sorted(blueprint.inputs)}")
    try:
        use = {"use_blueprint": {"path": "hipsense/hipsense_alert_notify.yaml", "input": inputs}}
        substituted = BlueprintInputs(blueprint, use).async_substitute()
        automation = automation_config.PLATFORM_SCHEMA(substituted)
        triggers = automation.get("triggers") or automation.get("trigger")
        actions = automation.get("actions") or automation.get("action")
        for trig in triggers:
            TRIGGER_SCHEMA(trig)
        try:
            from homeassistant.components.mobile_app.device_action import ACTION_SCHEMA
        except ImportError as exc:  # older releases pull in more of their integrations' requirements here
            note = f"; companion-app action schema not checked ({exc})"
        else:
            note = ""
            for act in actions:
                ACTION_SCHEMA(act)
    except Exception as exc:
        report(False, "blueprint automation", f"{type(exc).__name__}: {exc}")
        return
    report(
        True, "blueprint automation", f"{len(triggers)} MQTT trigger(s), {len(actions)} companion-app action(s)" + note
    )


async def run(doc: dict[str, Any]) -> None:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import frame

    with tempfile.TemporaryDirectory() as config_dir:
        hass = HomeAssistant(config_dir)  # the schemas' template checks want a running instance
        if hasattr(frame, "async_setup"):  # 2024.11 and later
            frame.async_setup(hass)
        validated = check_discovery(doc["discovery"])
        check_templates(hass, validated, doc["templates"])
        check_blueprint(doc["blueprint"], doc["blueprint_inputs"])
        await hass.async_stop(force=True)


def main() -> int:
    # Importing the companion app's integration pulls in the camera's JPEG helper, which logs a traceback
    # when libturbojpeg is absent; it plays no part in these checks.
    logging.getLogger("homeassistant.components.camera").setLevel(logging.CRITICAL)
    with open(sys.argv[1], encoding="utf-8") as fh:
        doc = json.load(fh)
    print(f"Home Assistant {HA_VERSION}, Python {sys.version.split()[0]}")
    asyncio.run(run(doc))
    print(f"{len(FAILED)} failed" if FAILED else "all passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
