"""The shared leaf's errors.

    CommonError
     ├── TemplateError          a CloudFormation template cannot be read or resolved (cfn)
     ├── TopicError             an MQTT topic name or filter that MQTT does not allow (topics)
     ├── ShadowDocumentError    a shadow update that is not a valid shadow document
     └── ShadowVersionConflict  an update naming a version other than the shadow's

Each is also a `ValueError`: every one of them is bad input, named in its message.
"""

from __future__ import annotations


class CommonError(Exception):
    """Base of the errors raised by `edgeway_common`."""


class TemplateError(CommonError, ValueError):
    """A template that cannot be read or resolved; the message names the file and the place."""


class TopicError(CommonError, ValueError):
    """A topic or topic filter MQTT does not allow; the message names the field and the rule."""


class ShadowDocumentError(CommonError, ValueError):
    """A shadow request body that is not a valid shadow document; the message says why."""


class ShadowVersionConflict(CommonError, ValueError):
    """The request's version is not the shadow's current version."""
