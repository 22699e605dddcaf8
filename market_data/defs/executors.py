"""How a run executes its steps: in one process unless its run config asks for several.

A step in a process of its own pays for importing the code again (about two seconds,
more than a day's data work), so a run of one day or a few, which is what the
schedules, the sensors and "Materialize" in the UI launch, runs in one process; its
days already run side by side in threads inside each step (``day_runs.py``). A large
range can still ask for a process per step with
``execution: {config: {multiprocess: {max_concurrent: N}}}``.
"""

from typing import Any

from dagster import Field, Permissive, Selector, multi_or_in_process_executor

IN_PROCESS: dict[str, dict[str, Any]] = {"in_process": {}}
MULTIPROCESS: dict[str, dict[str, Any]] = {"multiprocess": {}}

run_executor = multi_or_in_process_executor.configured(
    lambda config: config,
    name="in_process_unless_asked",
    config_schema=Field(
        # Dagster's Selector and Permissive constructors have no annotations.
        Selector({"in_process": Permissive(), "multiprocess": Permissive()}),  # type: ignore[no-untyped-call]
        default_value=IN_PROCESS,
    ),
)
