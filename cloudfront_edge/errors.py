"""Errors of the local CloudFront and the Lambda@Edge deployer.

    EdgeError
     ├── EdgeConfigError (ValueError)       a configuration the edge cannot run; the message says where
     │    ├── DistributionError             the template does not describe a distribution we can run
     │    ├── ResponseHeadersPolicyError    a response headers policy CloudFront would not accept
     │    ├── OriginMappingError            an --origin value that names no origin, folder or URL
     │    ├── PackagingError                a function cannot be packaged (missing, over the size limit)
     │    └── PlanError                     a deployment would break a Lambda@Edge rule
     ├── OriginError                        the origin could not be reached (502) or was too slow (504)
     └── EdgeDeployError (RuntimeError)     a Lambda, IAM or CloudFront call of `edgeway edge deploy` failed

Control flow inside the pipeline (a validation `Violation`, a function's failure or timeout) uses
private exceptions of its own modules; they never leave the emulator. `cloudfront_edge/functions/`
imports nothing, this module included: each function file ships alone.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of the errors `cloudfront_edge` raises on purpose."""


class EdgeConfigError(EdgeError, ValueError):
    """A configuration that cannot be run or deployed; the message names where."""


class DistributionError(EdgeConfigError):
    """The template does not describe a distribution the emulator can run; says where."""


class ResponseHeadersPolicyError(EdgeConfigError):
    """The policy's configuration is not one CloudFront accepts; the message says where."""


class OriginMappingError(EdgeConfigError):
    """An --origin value that names no origin of the distribution, or no folder or URL."""


class PackagingError(EdgeConfigError):
    """A function cannot be packaged for Lambda@Edge; the message names the function and the reason."""


class PlanError(EdgeConfigError):
    """The deployment would break a Lambda@Edge rule; the message names the function and the rule."""


class OriginError(EdgeError):
    """The origin could not be reached (502) or did not answer in time (504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EdgeDeployError(EdgeError, RuntimeError):
    """A deployment step failed; the message names the step and AWS's error."""
