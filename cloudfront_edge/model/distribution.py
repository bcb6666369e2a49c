"""A CloudFront distribution's behaviours, origins and function associations, read from CloudFormation.

The local CloudFront takes its configuration from the same template that deploys the functions: the
`AWS::CloudFront::Distribution` in `cloudfront_edge/distribution.yaml`. An association's
`LambdaFunctionARN` (a `!Ref` to an
`AWS::Lambda::Version`, or `Function.Version` as SAM writes it) leads to the function resource whose
`Handler` names the module in `cloudfront_edge/functions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cloudfront_edge.errors import DistributionError as DistributionError
from cloudfront_edge.errors import ResponseHeadersPolicyError
from cloudfront_edge.model.response_headers import ResponseHeadersPolicy, parse_policy
from cloudfront_edge.model.triggers import Trigger
from edgeway_common import cfn

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The distribution whose behaviours carry the Lambda@Edge associations. cloud_backend/template.yaml has
# the web app's bucket and distribution too, without associations: `edgeway edge deploy` adds them.
DEFAULT_SOURCES = (PACKAGE_DIR / "distribution.yaml",)
DEFAULT_VIEWER_HEADERS = (
    "CloudFront-Viewer-Country",
    "CloudFront-Is-Mobile-Viewer",
    "CloudFront-Is-Tablet-Viewer",
    "CloudFront-Is-Desktop-Viewer",
    "CloudFront-Is-SmartTV-Viewer",
    "CloudFront-Forwarded-Proto",
)


@dataclass(frozen=True)
class Origin:
    id: str
    kind: str  # "custom" or "s3", as in the event's origin object
    domain_name: str
    path: str = ""
    port: int = 443
    protocol: str = "https"
    read_timeout: int = 30
    keepalive_timeout: int = 5
    custom_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Association:
    trigger: Trigger
    function: str  # module name in cloudfront_edge/functions
    include_body: bool = False


@dataclass(frozen=True)
class Behaviour:
    path_pattern: str  # "*" for the default behaviour
    origin_id: str
    associations: Mapping[Trigger, Association] = field(default_factory=dict)
    min_ttl: int = 0
    default_ttl: int = 86400
    max_ttl: int = 31536000
    allowed_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    cached_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    forward_query: bool = True
    viewer_headers: tuple[str, ...] = DEFAULT_VIEWER_HEADERS
    response_headers: ResponseHeadersPolicy | None = None

    def matches(self, uri: str) -> bool:
        return _pattern(self.path_pattern).match(uri) is not None


MAX_REMEMBERED_PATHS = 4096


@dataclass(frozen=True)
class Distribution:
    origins: Mapping[str, Origin]
    behaviours: tuple[Behaviour, ...]  # in the order CloudFront evaluates them; the default is last
    function_properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # module -> Properties
    domain_name: str = "d111111abcdef8.cloudfront.net"
    id: str = "EDFDVBD6EXAMPLE"
    source: str = ""
    # path -> its behaviour, for the paths already asked about: a dict lookup per request instead of a
    # regular expression per behaviour (the answer never changes: the distribution is frozen)
    _behaviour_of: dict[str, Behaviour] = field(default_factory=dict, init=False, repr=False, compare=False)

    def behaviour_for(self, uri: str) -> Behaviour:
        found = self._behaviour_of.get(uri)
        if found is None:
            found = next((b for b in self.behaviours if b.matches(uri)), self.behaviours[-1])
            if len(self._behaviour_of) >= MAX_REMEMBERED_PATHS:
                self._behaviour_of.clear()  # a bound, not a policy: the paths asked about again come back
            self._behaviour_of[uri] = found
        return found

    def handler_of(self, module: str) -> str:
        """The function a module's Handler names (`lambda_handler` in `lambda_function.lambda_handler`)."""
        handler = str(self.function_properties.get(module, {}).get("Handler", ""))
        return handler.rpartition(".")[2] or "handler"

    def handlers(self) -> dict[str, str]:
        return {module: self.handler_of(module) for module in self.functions()}

    def functions(self) -> set[str]:
        return {a.function for b in self.behaviours for a in b.associations.values()}

    def triggers_of(self, function: str) -> set[Trigger]:
        return {t for b in self.behaviours for t, a in b.associations.items() if a.function == function}


@lru_cache(maxsize=512)
def _pattern(path_pattern: str) -> re.Pattern[str]:
    """CloudFront path patterns: `*` any characters, `?` one, case-sensitive, the leading / optional."""
    pattern = path_pattern if path_pattern.startswith(("/", "*")) else "/" + path_pattern
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z"
    )


def load_template(path: Path) -> dict[str, Any]:
    try:
        return cfn.load_template(path)
    except cfn.TemplateError as exc:
        raise DistributionError(str(exc)) from exc


def _function_module(resources: dict[str, Any], arn: Any, where: str) -> str:
    logical = None
    if isinstance(arn, dict) and "Ref" in arn:
        logical = str(arn["Ref"]).removesuffix(".Version")
    elif isinstance(arn, dict) and "Fn::GetAtt" in arn:
        logical = str(arn["Fn::GetAtt"][0])
    resource = resources.get(logical or "")
    if resource is None:
        raise DistributionError(
            f"{where}: LambdaFunctionARN {arn!r} does not name a resource in the template"
        )
    if resource.get("Type") == "AWS::Lambda::Version":
        return _function_module(resources, resource.get("Properties", {}).get("FunctionName"), where)
    handler = resource.get("Properties", {}).get("Handler", "")
    module, _, function = str(handler).rpartition(".")
    if not module.isidentifier() or not function.isidentifier():
        raise DistributionError(
            f"{where}: function {logical} has Handler {handler!r}; expected <module>.<function>, "
            "as in lambda_function.lambda_handler"
        )
    return module


def _origin(spec: dict[str, Any], where: str) -> Origin:
    origin_id = spec.get("Id")
    if not origin_id:
        raise DistributionError(f"{where}: an origin has no Id")
    domain = spec.get("DomainName")
    domain_name = (
        domain if isinstance(domain, str) else f"{str(origin_id).lower()}.s3.us-east-1.amazonaws.com"
    )
    headers = tuple((h["HeaderName"], h["HeaderValue"]) for h in spec.get("OriginCustomHeaders", []))
    custom = spec.get("CustomOriginConfig")
    if custom is None:
        return Origin(str(origin_id), "s3", domain_name, spec.get("OriginPath", ""), custom_headers=headers)
    policy = custom.get("OriginProtocolPolicy", "https-only")
    protocol = "http" if policy == "http-only" else "https"
    port = int(custom.get("HTTPPort", 80) if protocol == "http" else custom.get("HTTPSPort", 443))
    return Origin(
        str(origin_id),
        "custom",
        domain_name,
        spec.get("OriginPath", ""),
        port,
        protocol,
        int(custom.get("OriginReadTimeout", 30)),
        int(custom.get("OriginKeepaliveTimeout", 5)),
        headers,
    )


def _behaviour(resources: dict[str, Any], spec: dict[str, Any], pattern: str, where: str) -> Behaviour:
    associations: dict[Trigger, Association] = {}
    for index, item in enumerate(spec.get("LambdaFunctionAssociations", [])):
        here = f"{where}.LambdaFunctionAssociations[{index}]"
        try:
            trigger = Trigger(item.get("EventType"))
        except ValueError as exc:
            raise DistributionError(f"{here}: unknown EventType {item.get('EventType')!r}") from exc
        if trigger in associations:
            raise DistributionError(f"{here}: a behaviour has one function per event type; {trigger} repeats")
        associations[trigger] = Association(
            trigger,
            _function_module(resources, item.get("LambdaFunctionARN"), here),
            bool(item.get("IncludeBody")),
        )
    policy = _response_headers_policy(resources, spec.get("ResponseHeadersPolicyId"), where)
    forwarded = spec.get("ForwardedValues", {})
    viewer_headers = tuple(h for h in forwarded.get("Headers", []) if h.lower().startswith("cloudfront-"))
    return Behaviour(
        path_pattern=pattern,
        origin_id=str(spec.get("TargetOriginId")),
        associations=associations,
        min_ttl=int(spec.get("MinTTL", 0)),
        default_ttl=int(spec.get("DefaultTTL", 86400)),
        max_ttl=int(spec.get("MaxTTL", 31536000)),
        allowed_methods=frozenset(spec.get("AllowedMethods", ["GET", "HEAD"])),
        cached_methods=frozenset(spec.get("CachedMethods", ["GET", "HEAD"])),
        forward_query=bool(forwarded.get("QueryString", True)),
        viewer_headers=viewer_headers or DEFAULT_VIEWER_HEADERS,
        response_headers=policy,
    )


def _response_headers_policy(
    resources: dict[str, Any], reference: Any, where: str
) -> ResponseHeadersPolicy | None:
    """`ResponseHeadersPolicyId: !Ref Policy` (or `!GetAtt Policy.Id`) to a policy in the template."""
    if reference is None:
        return None
    logical = None
    if isinstance(reference, dict) and "Ref" in reference:
        logical = str(reference["Ref"])
    elif isinstance(reference, dict) and "Fn::GetAtt" in reference:
        logical = str(reference["Fn::GetAtt"][0])
    resource = resources.get(logical or "")
    if resource is None or resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
        raise DistributionError(
            f"{where}.ResponseHeadersPolicyId: {reference!r} is not an "
            "AWS::CloudFront::ResponseHeadersPolicy in the template "
            "(managed policies are not known to the local CloudFront)"
        )
    try:
        return parse_policy(str(logical), resource.get("Properties", {}), f"{logical}.Properties")
    except ResponseHeadersPolicyError as exc:
        raise DistributionError(str(exc)) from exc


def _of_type(resources: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, r) for name, r in resources.items() if isinstance(r, dict) and r.get("Type") == kind]


def parse_distribution(template: dict[str, Any], source: str) -> Distribution:
    resources: dict[str, Any] = template["Resources"]
    found = _of_type(resources, "AWS::CloudFront::Distribution")
    if len(found) != 1:
        raise DistributionError(f"{source}: expected one AWS::CloudFront::Distribution, found {len(found)}")
    name, resource = found[0]
    config = resource.get("Properties", {}).get("DistributionConfig", {})
    where = f"{source}: {name}.DistributionConfig"
    origins = {o.id: o for o in (_origin(spec, f"{where}.Origins") for spec in config.get("Origins", []))}
    behaviours = [
        _behaviour(resources, spec, str(spec.get("PathPattern")), f"{where}.CacheBehaviors[{index}]")
        for index, spec in enumerate(config.get("CacheBehaviors", []))
    ]
    if "DefaultCacheBehavior" not in config:
        raise DistributionError(f"{where}: no DefaultCacheBehavior")
    behaviours.append(
        _behaviour(resources, config["DefaultCacheBehavior"], "*", f"{where}.DefaultCacheBehavior")
    )
    for behaviour in behaviours:
        if behaviour.origin_id not in origins:
            raise DistributionError(f"{where}: TargetOriginId {behaviour.origin_id!r} is not an origin")
    properties = {}
    for kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
        for _, function in _of_type(resources, kind):
            handler = function.get("Properties", {}).get("Handler")
            if handler:
                properties[str(handler).rpartition(".")[0]] = function["Properties"]
    return Distribution(origins, tuple(behaviours), properties, source=source)


def load_distribution(path: Path | None = None) -> Distribution:
    """From `path`, or from the first default source that exists and has a distribution."""
    if path is not None:
        return parse_distribution(load_template(path), str(path))
    for candidate in DEFAULT_SOURCES:
        if candidate.exists():
            template = load_template(candidate)
            if _of_type(template["Resources"], "AWS::CloudFront::Distribution"):
                return parse_distribution(template, str(candidate))
    raise DistributionError(f"no CloudFront distribution in {', '.join(map(str, DEFAULT_SOURCES))}")
