"""Talk to a running core's control socket (used by the CLI and the tests)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from .errors import CoreError


class CoreNotRunningError(CoreError):
    pass


def control_request(socket_path: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    if not socket_path.exists():
        raise CoreNotRunningError(f"no core is running at {socket_path.parent} (no {socket_path.name})")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(socket_path))
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise CoreNotRunningError(f"no core is answering at {socket_path}: {exc}") from exc
        sock.sendall(json.dumps(request).encode() + b"\n")
        buffer = b""
        while not buffer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise CoreError("the core closed the control connection without answering")
            buffer += chunk
    answer: dict[str, Any] = json.loads(buffer)
    return answer
