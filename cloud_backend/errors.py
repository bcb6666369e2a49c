"""Errors of the cloud backend, its stand-in and its deployer.

    CloudBackendError
     ├── BadInputError (ValueError)        what someone sent or configured is wrong; the message says where
     │    ├── TokenError                   a session token we do not accept (never echoes the token)
     │    ├── RecordError                  a stream record that can never be processed
     │    ├── PolicyError                  an IoT policy document we cannot read
     │    ├── SqlSyntaxError               a rule's IoT SQL that does not parse (carries the column)
     │    ├── RuleLoadError                a rule in the template that cannot run
     │    └── ArtifactError                the handlers' zip cannot be built (size, dependencies)
     ├── StoreError (RuntimeError)         a repository could not read or write
     ├── FunctionError (RuntimeError)      a locally hosted handler raised or ran past its timeout
     └── CloudDeployError (RuntimeError)   a CloudFormation or S3 step of `edgeway cloud deploy` failed

Template reading errors come from the shared leaf (`edgeway_common.errors.TemplateError`). This module
imports nothing, so the handlers' zip can ship it to Lambda.
"""

from __future__ import annotations


class CloudBackendError(Exception):
    """Base of the errors `cloud_backend` raises on purpose."""


class BadInputError(CloudBackendError, ValueError):
    """Input that cannot be accepted; the message names what was wrong and where."""


class TokenError(BadInputError):
    """The token is not one we accept; the message says why (and never echoes the token)."""


class RecordError(BadInputError):
    """A record that can never be processed; the message says why."""


class PolicyError(BadInputError):
    """A policy document we cannot read; the message names what was wrong."""


class SqlSyntaxError(BadInputError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message, self.column = message, column


class RuleLoadError(BadInputError):
    """A rule that cannot run; the message names the template, the rule and what is wrong."""


class ArtifactError(BadInputError):
    """The handlers' artifact cannot be built; the message says what is wrong."""


class StoreError(CloudBackendError, RuntimeError):
    """A repository could not read or write; the message names the store and the operation."""


class FunctionError(CloudBackendError, RuntimeError):
    """A handler raised or ran past its timeout."""


class CloudDeployError(CloudBackendError, RuntimeError):
    """A deployment step failed; the message names the step and the reason."""
