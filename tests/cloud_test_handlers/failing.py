"""A handler that always raises, for the rules engine's errorAction path."""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError(f"cannot handle {sorted(event)} in {context.function_name}")
