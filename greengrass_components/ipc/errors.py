"""Errors an IPC operation answers with; each carries the wire name of its modeled shape.

    IpcError                    aws.greengrass#ServiceError unless a subclass says otherwise
    ├── ServiceError            aws.greengrass#ServiceError
    ├── UnauthorizedError       aws.greengrass#UnauthorizedError
    ├── ResourceNotFoundError   aws.greengrass#ResourceNotFoundError (resourceType, resourceName)
    ├── InvalidArgumentsError   aws.greengrass#InvalidArgumentsError
    ├── ConflictError           aws.greengrass#ConflictError (shadow version conflicts)
    └── ComponentNotFoundError  aws.greengrass#ComponentNotFoundError

The client reads the text from `.message`, so that is where it goes.
"""

from __future__ import annotations

from typing import Any


class IpcError(Exception):
    model = "aws.greengrass#ServiceError"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def payload(self) -> dict[str, Any]:
        return {"message": self.message, **{k: v for k, v in self.fields.items() if v is not None}}


class ServiceError(IpcError):
    model = "aws.greengrass#ServiceError"


class UnauthorizedError(IpcError):
    model = "aws.greengrass#UnauthorizedError"


class ResourceNotFoundError(IpcError):
    model = "aws.greengrass#ResourceNotFoundError"


class InvalidArgumentsError(IpcError):
    model = "aws.greengrass#InvalidArgumentsError"


class ConflictError(IpcError):
    model = "aws.greengrass#ConflictError"


class ComponentNotFoundError(IpcError):
    model = "aws.greengrass#ComponentNotFoundError"
