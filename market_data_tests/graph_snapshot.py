"""What the UI shows of market-data, as text: assets, checks, jobs, schedules, sensors and
resources with their partitions and descriptions.

``test_graph_snapshot.py`` compares it with ``snapshots/definitions.txt``, so a change to
the graph shows up as a reviewable diff; ``make snapshot`` (this module as a script)
writes the file anew.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"
# The resources depend on the environment: the snapshot is taken with none configured.
CONFIGURATION = ("DATABASE_URL", "MASSIVE_", "MARKET_DATA_", "AWS_", "DAGSTER_PG_URL")


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _wrapped(label: str, value: object) -> list[str]:
    return textwrap.wrap(
        f"{label}: {_text(value)}", width=96, initial_indent="    ", subsequent_indent="      "
    )


def _partitions(partitions_def) -> str:
    if partitions_def is None:
        return "none"
    if hasattr(partitions_def, "start"):
        return (
            f"{type(partitions_def).__name__}(start={partitions_def.start.date()}, "
            f"timezone={partitions_def.timezone}, end_offset={partitions_def.end_offset})"
        )
    return type(partitions_def).__name__


def render(defs) -> str:
    lines: list[str] = []
    graph = defs.resolve_asset_graph()
    lines.append("# assets")
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        node = graph.get(spec.key)
        lines.append(spec.key.to_user_string())
        lines.append(f"    group: {spec.group_name}")
        lines.append(f"    kinds: {', '.join(sorted(spec.kinds)) or '-'}")
        lines.append(f"    partitions: {_partitions(spec.partitions_def)}")
        lines.append(f"    backfill: {_text(node.backfill_policy)}")
        deps = sorted(d.asset_key.to_user_string() for d in spec.deps)
        lines.append(f"    deps: {', '.join(deps) or '-'}")
        if spec.freshness_policy is not None:
            lines.extend(_wrapped("freshness", spec.freshness_policy))
        lines.extend(_wrapped("description", spec.description))
    lines.append("\n# asset checks")
    checks = [spec for checks_def in defs.asset_checks or [] for spec in checks_def.check_specs]
    for spec in sorted(checks, key=lambda s: (s.asset_key.to_user_string(), s.name)):
        lines.append(f"{spec.asset_key.to_user_string()}:{spec.name}")
        lines.extend(_wrapped("description", spec.description))
    lines.append("\n# jobs")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        lines.append(job.name)
        lines.append(f"    executor: {job.executor_def.name}")
        lines.extend(_wrapped("description", job.description))
    lines.append("\n# schedules")
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        schedule = defs.resolve_schedule_def(schedule.name)
        lines.append(schedule.name)
        lines.append(f"    cron: {schedule.cron_schedule} ({schedule.execution_timezone})")
        lines.append(f"    job: {schedule.job_name}; default: {schedule.default_status.value}")
        lines.extend(_wrapped("description", schedule.description))
    lines.append("\n# sensors")
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        sensor = defs.resolve_sensor_def(sensor.name)
        lines.append(sensor.name)
        lines.append(
            f"    every {sensor.minimum_interval_seconds}s; default: {sensor.default_status.value}"
        )
        targets = sorted(t.job_name for t in sensor.targets) if sensor.targets else []
        lines.append(f"    targets: {', '.join(targets) or '-'}")
        lines.extend(_wrapped("description", sensor.description))
    lines.append("\n# resources")
    for name, resource in sorted((defs.resources or {}).items()):
        fields = ", ".join(sorted(type(resource).model_fields))
        lines.append(f"{name}: {type(resource).__name__}({fields})")
    return "\n".join(lines) + "\n"


def current() -> str:
    """The snapshot of ``market_data.definitions`` with no configuration in the environment."""
    for name in list(os.environ):
        if name.startswith(CONFIGURATION):
            del os.environ[name]
    from market_data.definitions import defs

    return render(defs)


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(current())
    print(f"wrote {SNAPSHOT.relative_to(Path.cwd())}", file=sys.stderr)
