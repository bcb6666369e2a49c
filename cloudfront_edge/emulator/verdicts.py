"""What CloudFront answers for one function invocation: the validated outcome, or the failure status
(503 for a timeout, 500 for an exception, 502 for a result that breaks a rule). Pure: no I/O.
The gateway turns a failure into its error response; `edgeway edge invoke` prints it."""

from __future__ import annotations

from typing import Any

from cloudfront_edge.emulator.function_host import Invocation
from cloudfront_edge.emulator.validation import Outcome, Violation, validate
from cloudfront_edge.model.triggers import Trigger


class FunctionFailed(Exception):
    def __init__(self, status: int, result_type: str, message: str, detail: str) -> None:
        super().__init__(message)
        self.status, self.result_type, self.message, self.detail = status, result_type, message, detail


def judge(function: str, trigger: Trigger, before: dict[str, Any], invocation: Invocation) -> Outcome:
    """The outcome of a valid result; FunctionFailed, with CloudFront's status, otherwise."""
    if invocation.kind == "ok":
        try:
            return validate(trigger, before, invocation.result)
        except Violation as violation:
            where = f"{function} ({trigger})"
            message = f"The Lambda function {where} returned a result that failed validation. {violation}"
            detail = f"rule={violation.rule} header={violation.header or '-'} function={function}"
            raise FunctionFailed(502, "LambdaValidationError", message, detail) from violation
    where = f"{function} ({trigger})"
    if invocation.kind == "timeout":
        message = f"The Lambda function {where} timed out."
        raise FunctionFailed(503, "LambdaLimitExceeded", message, message)
    message = f"The Lambda function {where} raised an exception: {invocation.error}"
    raise FunctionFailed(500, "LambdaExecutionError", message, message)
