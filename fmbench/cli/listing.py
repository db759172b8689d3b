"""``fmbench tasks`` and ``fmbench methods``: what can be run, with dimensions, settings and defaults."""

from __future__ import annotations

import argparse
from typing import Any

from fmbench import registry


def add_parsers(sub: Any) -> None:
    """Adds the ``tasks`` and ``methods`` commands."""
    tasks = sub.add_parser("tasks", help="list the tasks with their dimensions, prior and availability")
    tasks.set_defaults(handler=list_tasks)
    methods = sub.add_parser("methods", help="list the methods with their settings and defaults")
    methods.set_defaults(handler=list_methods)


def list_tasks(args: argparse.Namespace) -> int:
    """Prints one line per registered task."""
    infos = [registry.get_task(name).info() for name in registry.task_names()]
    print(f"{'task':<24} {'theta':>5} {'x':>4} {'prior':<20} {'obs':>3}  available")
    for i in infos:
        status = "yes" if i.available else f"no: {i.reason}"
        print(f"{i.name:<24} {i.theta_dim:>5} {i.x_dim:>4} {i.prior:<20} {i.num_observations:>3}  {status}")
    return 0


def list_methods(args: argparse.Namespace) -> int:
    """Prints each registered method with its settings and their defaults."""
    for name in registry.method_names():
        cls = registry.METHODS.get(name)
        print(f"{name}: {cls.description}")
        for setting, default, help_text in cls.Config.settings():
            print(f"    {setting} = {default!r}  # {help_text}")
    return 0
