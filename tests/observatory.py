"""The MDN HTTP Observatory's scoring rules, implemented for tests: a response's headers (and page) in,
the score, grade and each test's result out.

Every site starts at 100; each test adds its modifier; bonuses count only when the score before them is
at least 90. Grades: A+ from 100, A from 90, A- 85, B+ 80, B 70, B- 65, C+ 60, C 50, C- 45, D+ 40, D 30,
D- 25, F below. Redirection is judged from the configuration (CloudFront's ViewerProtocolPolicy), since
the local CloudFront listens on plain HTTP only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

GRADES = [
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
]
SIX_MONTHS = 15_768_000
PRIVATE_REFERRERS = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
UNSAFE_REFERRERS = {"origin", "origin-when-cross-origin", "unsafe-url"}
SESSION_NAMES = re.compile(r"sess|token|auth|login|sid|jwt", re.I)


@dataclass
class Report:
    results: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def score(self) -> int:
        penalties = sum(m for _, m in self.results.values() if m < 0)
        bonuses = sum(m for _, m in self.results.values() if m > 0)
        base = 100 + penalties
        return max(0, base + (bonuses if base >= 90 else 0))

    @property
    def grade(self) -> str:
        return next((grade for floor, grade in GRADES if self.score >= floor), "F")


def _csp(headers: dict[str, str]) -> tuple[str, int]:
    value = headers.get("content-security-policy")
    if not value:
        return "csp-not-implemented", -25
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), [t.lower() for t in tokens[1:]])
    default = directives.get("default-src")
    scripts = directives.get("script-src", default)
    if scripts is None or "*" in scripts or "http:" in scripts or "https:" in scripts:
        return "csp-implemented-with-unsafe-inline", -20
    strict = any(
        s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) or s == "'strict-dynamic'"
        for s in scripts
    )
    if "'unsafe-inline'" in scripts and not strict:
        return "csp-implemented-with-unsafe-inline", -20
    if "'unsafe-eval'" in scripts:
        return "csp-implemented-with-unsafe-eval", -10
    if any(
        s.startswith(("http:", "ftp:")) or s.startswith("http://")
        for values in directives.values()
        for s in values
    ):
        return "csp-implemented-with-insecure-scheme", -20
    if default == ["'none'"]:
        return "csp-implemented-with-no-unsafe-default-src-none", 10
    return "csp-implemented-with-no-unsafe", 0


def _cookies(set_cookies: list[str], hsts: bool) -> tuple[str, int]:
    if not set_cookies:
        return "cookies-not-found", 0
    all_samesite = True
    for raw in set_cookies:
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        for name, morsel in jar.items():
            session = bool(SESSION_NAMES.search(name)) or morsel["httponly"]
            if not morsel["secure"]:
                if session:
                    return (
                        ("cookies-session-without-secure-flag-but-protected-by-hsts", -10)
                        if hsts
                        else ("cookies-session-without-secure-flag", -40)
                    )
                return (
                    ("cookies-without-secure-flag-but-protected-by-hsts", -5)
                    if hsts
                    else ("cookies-without-secure-flag", -20)
                )
            if session and not morsel["httponly"]:
                return "cookies-session-without-httponly-flag", -30
            samesite = morsel["samesite"].lower() if morsel["samesite"] else ""
            if samesite and samesite not in ("strict", "lax", "none"):
                return "cookies-samesite-flag-invalid", -20
            all_samesite = all_samesite and bool(samesite)
    if all_samesite:
        return "cookies-secure-with-httponly-sessions-and-samesite", 5
    return "cookies-secure-with-httponly-sessions", 0


def _hsts(headers: dict[str, str], preloaded: bool) -> tuple[str, int]:
    value = headers.get("strict-transport-security")
    if not value:
        return "hsts-not-implemented", -20
    match = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    if not match:
        return "hsts-header-invalid", -20
    if preloaded:
        return "hsts-preloaded", 5
    if int(match.group(1)) >= SIX_MONTHS:
        return "hsts-implemented-max-age-at-least-six-months", 0
    return "hsts-implemented-max-age-less-than-six-months", -10


def _referrer(headers: dict[str, str]) -> tuple[str, int]:
    value = headers.get("referrer-policy")
    if value is None:
        return "referrer-policy-not-implemented", 0
    policies = [p.strip().lower() for p in value.split(",") if p.strip()]
    if not policies:
        return "referrer-policy-header-invalid", -5
    effective = policies[-1]
    if effective in PRIVATE_REFERRERS:
        return "referrer-policy-private", 5
    if effective in UNSAFE_REFERRERS:
        return "referrer-policy-unsafe", -5
    if effective == "no-referrer-when-downgrade":
        return "referrer-policy-no-referrer-when-downgrade", 0
    return "referrer-policy-header-invalid", -5


def _frame_options(headers: dict[str, str]) -> tuple[str, int]:
    if "frame-ancestors" in headers.get("content-security-policy", "").lower():
        return "x-frame-options-implemented-via-csp", 5
    value = headers.get("x-frame-options", "").strip().lower()
    if value in ("deny", "sameorigin"):
        return "x-frame-options-sameorigin-or-deny", 0
    if not value:
        return "x-frame-options-not-implemented", -20
    return "x-frame-options-header-invalid", -20


def _sri(body: str, content_type: str) -> tuple[str, int]:
    if "html" not in content_type:
        return "sri-not-implemented-response-not-html", 0
    scripts = re.findall(r"<script\b[^>]*>", body, re.I)
    if not scripts:
        return "sri-not-implemented-but-no-scripts-loaded", 0
    external = [s for s in scripts if re.search(r"src\s*=\s*[\"']?(https?:)?//", s, re.I)]
    if not external:
        return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0
    if all("integrity=" in s.lower() for s in external):
        return "sri-implemented-and-external-scripts-loaded-securely", 5
    return "sri-not-implemented-but-external-scripts-loaded-securely", -5


def score(
    headers: dict[str, str],
    set_cookies: list[str],
    body: str,
    redirects_to_https: bool,
    preloaded: bool = False,
) -> Report:
    lowered = {k.lower(): v for k, v in headers.items()}
    report = Report()
    report.results["content-security-policy"] = _csp(lowered)
    report.results["cookies"] = _cookies(set_cookies, "strict-transport-security" in lowered)
    acao = lowered.get("access-control-allow-origin", "").strip()
    report.results["cross-origin-resource-sharing"] = (
        ("cross-origin-resource-sharing-implemented-with-universal-access", -50)
        if acao == "*" and lowered.get("access-control-allow-credentials") == "true"
        else ("cross-origin-resource-sharing-not-implemented", 0)
    )
    report.results["redirection"] = (
        ("redirection-to-https", 0) if redirects_to_https else ("redirection-missing", -20)
    )
    report.results["referrer-policy"] = _referrer(lowered)
    report.results["strict-transport-security"] = _hsts(lowered, preloaded)
    report.results["subresource-integrity"] = _sri(body, lowered.get("content-type", ""))
    nosniff = lowered.get("x-content-type-options", "").strip().lower() == "nosniff"
    report.results["x-content-type-options"] = (
        ("x-content-type-options-nosniff", 0) if nosniff else ("x-content-type-options-not-implemented", -5)
    )
    report.results["x-frame-options"] = _frame_options(lowered)
    return report
