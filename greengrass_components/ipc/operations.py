"""The one table of IPC operations: `aws.greengrass#<Operation>` to its handler."""

from __future__ import annotations

from collections.abc import Iterable

from .server import Operation


def operation_table(*groups: Iterable[Operation]) -> dict[str, Operation]:
    table: dict[str, Operation] = {}
    for group in groups:
        for operation in group:
            if operation.name in table:
                raise ValueError(f"{operation.name} is registered twice")
            table[operation.name] = operation
    return table
