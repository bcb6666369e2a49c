"""A CloudFront response headers policy (`AWS::CloudFront::ResponseHeadersPolicy`), read from the
template and applied to every response the distribution sends: pages, redirects, origin errors and
CloudFront's own errors alike, which a Lambda@Edge viewer-response function cannot reach (it does not
run for origin errors, nor for responses CloudFront makes itself).

Pure: a policy is data, `apply` a function of headers. As in CloudFront, a header the policy sets with
`Override: false` is added only when the response does not already carry it; with `Override: true` the
policy's value replaces it. Removed headers go last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cloudfront_edge.errors import ResponseHeadersPolicyError as PolicyError

Headers = list[tuple[str, str]]  # as the emulator's messages carry them: (name, value), in order


@dataclass(frozen=True)
class HeaderRule:
    name: str
    value: str
    override: bool


@dataclass(frozen=True)
class ResponseHeadersPolicy:
    name: str
    rules: tuple[HeaderRule, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, headers: Headers) -> Headers:
        overridden, removed, added = self._plan
        present = set()
        out: Headers = []
        for key, value in headers:
            name = key.lower()
            present.add(name)
            if name not in overridden and name not in removed:
                out.append((key, value))
        out += [(key, value) for name, key, value, override in added if override or name not in present]
        return out

    @cached_property
    def _plan(self) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, str, str, bool], ...]]:
        """Worked out once per policy (a policy is applied to every response): the names replaced, the
        names removed, and the rules to add as (lowercase name, name, value, override), removed ones
        left out."""
        removed = frozenset(name.lower() for name in self.remove)
        overridden = frozenset(rule.name.lower() for rule in self.rules if rule.override)
        added = tuple(
            (rule.name.lower(), rule.name, rule.value, rule.override)
            for rule in self.rules
            if rule.name.lower() not in removed
        )
        return overridden, removed, added


def _flag(section: Mapping[str, Any], key: str, where: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise PolicyError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _security_rules(config: Mapping[str, Any], where: str) -> list[HeaderRule]:
    rules: list[HeaderRule] = []

    def add(key: str, name: str, value: str) -> None:
        section = config[key]
        rules.append(HeaderRule(name, value, _flag(section, "Override", f"{where}.{key}")))

    if "StrictTransportSecurity" in config:
        hsts = config["StrictTransportSecurity"]
        here = f"{where}.StrictTransportSecurity"
        if not isinstance(hsts.get("AccessControlMaxAgeSec"), int):
            raise PolicyError(f"{here}.AccessControlMaxAgeSec is required (whole seconds)")
        value = f"max-age={hsts['AccessControlMaxAgeSec']}"
        value += "; includeSubDomains" if _flag(hsts, "IncludeSubdomains", here) else ""
        value += "; preload" if _flag(hsts, "Preload", here) else ""
        add("StrictTransportSecurity", "Strict-Transport-Security", value)
    if "ContentTypeOptions" in config:
        add("ContentTypeOptions", "X-Content-Type-Options", "nosniff")
    if "FrameOptions" in config:
        option = config["FrameOptions"].get("FrameOption")
        if option not in ("DENY", "SAMEORIGIN"):
            raise PolicyError(f"{where}.FrameOptions.FrameOption must be DENY or SAMEORIGIN, got {option!r}")
        add("FrameOptions", "X-Frame-Options", option)
    if "ReferrerPolicy" in config:
        add("ReferrerPolicy", "Referrer-Policy", str(config["ReferrerPolicy"].get("ReferrerPolicy", "")))
    if "ContentSecurityPolicy" in config:
        csp = config["ContentSecurityPolicy"].get("ContentSecurityPolicy")
        if not isinstance(csp, str) or not csp:
            raise PolicyError(f"{where}.ContentSecurityPolicy.ContentSecurityPolicy is required")
        add("ContentSecurityPolicy", "Content-Security-Policy", csp)
    if "XSSProtection" in config:
        xss = config["XSSProtection"]
        here = f"{where}.XSSProtection"
        value = "1" if _flag(xss, "Protection", here) else "0"
        if value == "1" and _flag(xss, "ModeBlock", here):
            value += "; mode=block"
        if value.startswith("1") and xss.get("ReportUri"):
            value += f"; report={xss['ReportUri']}"
        add("XSSProtection", "X-XSS-Protection", value)
    return rules


def parse_policy(name: str, properties: Mapping[str, Any], where: str) -> ResponseHeadersPolicy:
    config = properties.get("ResponseHeadersPolicyConfig")
    if not isinstance(config, Mapping):
        raise PolicyError(f"{where}: ResponseHeadersPolicyConfig is required")
    rules = _security_rules(config.get("SecurityHeadersConfig") or {}, f"{where}.SecurityHeadersConfig")
    for index, item in enumerate((config.get("CustomHeadersConfig") or {}).get("Items", [])):
        here = f"{where}.CustomHeadersConfig.Items[{index}]"
        if not item.get("Header") or "Value" not in item:
            raise PolicyError(f"{here} needs Header and Value")
        rules.append(HeaderRule(str(item["Header"]), str(item["Value"]), _flag(item, "Override", here)))
    remove = tuple(str(item["Header"]) for item in (config.get("RemoveHeadersConfig") or {}).get("Items", []))
    return ResponseHeadersPolicy(name, tuple(rules), remove)
