"""``hipsense config``: where things live and the effective settings."""

from __future__ import annotations

import argparse
import json

from hipsense.config import config_path, data_dir, load_config


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "config",
        help="show the config file, the data folder and the effective settings",
        description=(
            "Show where hipsense keeps its config file and data folder (set HIPSENSE_HOME to move both) and, "
            "with --show, the effective settings with secrets masked."
        ),
    )
    p.add_argument("--show", action="store_true", help="print the effective settings (passwords masked)")
    p.add_argument("--json", action="store_true", help="print as JSON instead of TOML-like text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = config_path()
    cfg = load_config(path)
    masked = cfg.masked()
    if args.json:
        print(json.dumps({"config_file": str(path), "data_dir": str(data_dir()), "settings": masked}, indent=2))
        return 0
    print(f"# config file: {path}" + ("" if path.exists() else " (not present: defaults)"))
    print(f"# data folder: {data_dir()}")
    if args.show:
        for section, values in masked.items():
            print(f"\n[{section}]")
            for key, value in values.items():
                print(f"{key} = {json.dumps(value)}")
    return 0
