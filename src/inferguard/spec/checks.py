"""The named checks of `inferguard specs lint`: each has an id (`area/name`), a severity and a
one-line description. Every problem the loader, the schemas, the kind plugins and the
cross-document checks report carries one of these ids; an id that is not declared here is a
defect of ours and fails loudly. `specs lint --list-checks` prints this table and
`inferguard docs build` writes it to docs/spec-checks.md.
"""
from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    description: str


_TABLE: list[tuple[str, str, str]] = [
    # loading
    ("spec/io", ERROR, "a spec file cannot be read"),
    ("spec/yaml", ERROR, "a spec file is not valid YAML (or goes over the alias, node or depth budget)"),
    ("spec/shape", ERROR, "a document is not a mapping"),
    ("spec/api-version", ERROR, "apiVersion is not inferguard.dev/v1"),
    ("spec/kind", ERROR, "a document has no kind"),
    ("spec/unknown-kind", ERROR, "a kind with no schema"),
    ("spec/schema", ERROR, "a document does not match the JSON Schema of its kind"),
    ("spec/specset", ERROR, "the spec set has no SpecSet document (its version)"),
    ("spec/empty", ERROR, "nothing to lint: no spec document in the files given"),
    # expressions and regexes anywhere
    ("expr/syntax", ERROR, "a jmespath expression (required_when, applies_when, when, path) does not compile"),
    ("expr/unknown-context-key", ERROR, "an expression reads context.<key> for a key the Vocabulary does not declare"),
    ("regex/syntax", ERROR, "a regular expression does not compile"),
    # Vocabulary
    ("vocabulary/missing", ERROR, "the spec set has no Vocabulary document"),
    ("vocabulary/duplicate-id", ERROR, "a runtime, mode, context key, lane, check or --fail-on alias is declared twice"),
    ("vocabulary/unknown-check", ERROR, "a --fail-on alias names a check that no Vocabulary or DiagnosisRules document declares"),
    ("vocabulary/uncovered-finding", ERROR, "a gap status, a failing mode check, an unhealthy verdict or a lane's problems that no check turns into a finding"),
    ("vocabulary/unknown-mode", ERROR, "a mode satisfies an expectation that is neither auto nor a declared mode"),
    ("vocabulary/duplicate-flag", ERROR, "two context keys or lane inputs claim one command-line flag"),
    ("vocabulary/bad-default", ERROR, "a context key's default is not of its type or not one of its values"),
    ("vocabulary/unknown-implied-key", ERROR, "a context key implies a key that is not declared or not boolean"),
    ("vocabulary/evidence-pattern", ERROR, "a lane's first packet pattern is not its evidence file"),
    # MetricFamilies
    ("metrics/duplicate-id", ERROR, "a family, metric or derived value id is declared twice"),
    ("metrics/name-collision", ERROR, "one exposed name (after folding) belongs to two metrics"),
    ("metrics/type", ERROR, "a derived value's inputs have the wrong metric type"),
    ("metrics/unknown-ref", ERROR, "a derived value or group names a metric or family that does not exist"),
    ("metrics/id-prefix", ERROR, "a family or metric id does not start with its runtime's namespace"),
    ("metrics/series-name", ERROR, "an exposed name is a series name (_bucket, _sum, _count, _created), not a family name"),
    ("metrics/alias-order", ERROR, "a metric's names are not ordered oldest release first"),
    ("metrics/experimental-note", ERROR, "a name marked experimental or deprecated has no note saying why"),
    ("metrics/releases-order", ERROR, "a MetricFamilies release list is not distinct and oldest first"),
    ("metrics/unknown-window-group", ERROR, "a family or metric names a collect-metrics window group the Vocabulary does not declare"),
    ("metrics/not-mapped-is-mapped", ERROR, "a name listed under not_mapped is an alias of a metric after all"),
    # Detection
    ("detection/duplicate-id", ERROR, "an engine, mode or connector id is declared twice"),
    ("detection/unknown-ref", ERROR, "a signal names a family, metric or component that does not exist"),
    ("detection/unknown-lane", ERROR, "a signal names a lane the Vocabulary does not declare"),
    ("detection/unknown-signal", ERROR, "a signal names a lane signal that the lane's reader never emits"),
    ("detection/unknown-runtime", ERROR, "an engine or applicability rule names a runtime the Vocabulary does not declare"),
    ("detection/unknown-mode", ERROR, "an LMCache mode that the Vocabulary does not declare"),
    ("detection/unknown-log-pattern", ERROR, "a log_pattern signal names no pattern of the LogPatterns specs"),
    # Surfaces
    ("surfaces/duplicate-id", ERROR, "a row id is declared twice"),
    ("surfaces/unknown-family", ERROR, "a row requires a family that no MetricFamilies document declares"),
    ("surfaces/unknown-lane", ERROR, "a row requires a lane the Vocabulary does not declare"),
    ("surfaces/unknown-signal", ERROR, "a row requires a lane signal that the lane's reader never emits"),
    ("surfaces/unknown-source", ERROR, "a row's sources name neither prometheus nor a declared lane"),
    ("surfaces/unknown-expected-item", ERROR, "a fixture or inline test expects a status for an item the row does not require"),
    ("surfaces/missing-fixture", ERROR, "a fixture path does not exist in the checkout"),
    ("surfaces/next-command", ERROR, "a next command does not parse as an inferguard command line"),
    ("surfaces/unknown-derived", ERROR, "an inline test expects a derived value that no MetricFamilies document declares"),
    # Checklist
    ("checklist/duplicate", ERROR, "more than one Checklist document"),
    ("checklist/duplicate-id", ERROR, "a lane or closeout id is declared twice"),
    ("checklist/unknown-ref", ERROR, "an item names a row or family that does not exist"),
    ("checklist/weights", ERROR, "lane and closeout weights do not sum to 100"),
    ("checklist/live-unknown-command", ERROR, "a live_validation fixture names a command the section does not list, or a command is listed twice"),
    ("checklist/live-missing-expectation", ERROR, "a live_validation fixture declares no expectation for a listed command"),
    ("checklist/live-fixture", ERROR, "a live_validation fixture is missing, has no http/ bodies, or is not a live capture"),
    # DiagnosisRules
    ("diagnosis/duplicate-id", ERROR, "a rule id is declared twice"),
    ("diagnosis/unknown-threshold", ERROR, "a rule uses a threshold it does not declare"),
    # Disagg (`disagg status`)
    ("disagg/duplicate", ERROR, "more than one Disagg document"),
    ("disagg/duplicate-id", ERROR, "a role, quantity or finding id is declared twice"),
    ("disagg/unknown-metric", ERROR, "a quantity names a metric that does not exist, or lists it under another runtime"),
    ("disagg/metric-type", ERROR, "a quantity reads a histogram's sum or count from a metric that has none, or a value from a histogram"),
    ("disagg/unknown-role", ERROR, "a role label rule names a role that is not declared"),
    ("disagg/unknown-threshold", ERROR, "a finding names a threshold that is not declared"),
    ("disagg/threshold-type", ERROR, "an integer threshold has a default that is not a whole number"),
    ("disagg/missing", ERROR, "a role, quantity, threshold or finding that the disagg status engine reads is not declared"),
    ("diagnosis/unknown-value", ERROR, "an expression reads a value the rule does not declare (or declares later)"),
    ("diagnosis/unknown-metric", ERROR, "an expression names a metric id or derived value that no MetricFamilies document declares"),
    ("diagnosis/unknown-log-category", ERROR, "an expression names a log category that no LogPatterns document declares"),
    ("diagnosis/unknown-input", ERROR, "a rule names an input that is neither a packet role nor a Vocabulary lane"),
    ("diagnosis/unknown-function", ERROR, "an expression calls a function jmespath and the diagnosis engine do not define"),
    ("diagnosis/loose-not", ERROR, "`!a.b` negates `a`, not `a.b`: always null"),
    ("diagnosis/unknown-template-ref", ERROR, "a message or remediation renders a name that is not one of the rule's values"),
    ("diagnosis/unused-threshold", ERROR, "a threshold is declared but never read"),
    ("diagnosis/threshold-type", ERROR, "a threshold's default is not of its declared type"),
    ("diagnosis/message-threshold", ERROR, "a message does not render one of the rule's thresholds"),
    ("diagnosis/unknown-rule", ERROR, "a cause or fixture expectation names no rule of the spec set"),
    ("diagnosis/unknown-evidence", ERROR, "an evidence pointer names an unknown metric, log category or lane"),
    ("diagnosis/tests-both-ways", ERROR, "a rule lacks a positive or a negative inline test case"),
    ("diagnosis/missing-fixture", ERROR, "a DiagnosisRules fixture path does not exist in the checkout"),
    ("diagnosis/next-command", ERROR, "a rule's next command does not parse as an inferguard command line"),
    # HttpEndpoints (inferguard/spec/kinds/http_endpoints.py)
    ("http_endpoints/bad-regex", ERROR, "a route's path or body hint regex does not compile"),
    ("http_endpoints/bad-version", ERROR, "a version range does not parse"),
    ("http_endpoints/collect-not-get", ERROR, "a route marked collect is not a GET"),
    ("http_endpoints/collect-each", ERROR, "a collect_each route is not a safe GET with one path parameter, or names no route of its server"),
    ("http_endpoints/collect-templated", ERROR, "a route marked collect has a templated path"),
    ("http_endpoints/duplicate-flag", ERROR, "a file flag pairs with two routes in overlapping versions"),
    ("http_endpoints/duplicate-id", ERROR, "a route id is declared twice"),
    ("http_endpoints/duplicate-route", ERROR, "one method and path is declared twice in overlapping versions"),
    ("http_endpoints/duplicate-server", ERROR, "a server id is declared twice"),
    ("http_endpoints/flag-destructive", ERROR, "a destructive route pairs with a file flag"),
    ("http_endpoints/flag-mismatch", ERROR, "routes sharing a flag disagree on what the body is"),
    ("http_endpoints/policy-effect", ERROR, "a route's policy contradicts its effect"),
    ("http_endpoints/duplicate-payload", ERROR, "two payloads describe one kind of body (reads_as)"),
    ("http_endpoints/missing-payload", ERROR, "routes read their bodies as a kind that no payload describes"),
    ("http_endpoints/unknown-lane", ERROR, "the lane an HttpEndpoints document names is not declared in the Vocabulary"),
    ("http_endpoints/undeclared-signal", ERROR, "a payload emits a signal its lane does not declare"),
    ("http_endpoints/payload-unused", ERROR, "a payload describes a kind of body that no route has, or that the reader reads itself"),
    # LogPatterns (inferguard/spec/kinds/log_patterns.py)
    ("log_patterns/bad-regex", ERROR, "a pattern's regex does not compile"),
    ("log_patterns/capture-constant", ERROR, "a name is both a capture and a constant"),
    ("log_patterns/capture-type-conflict", ERROR, "two patterns of one category type a capture differently"),
    ("log_patterns/duplicate-id", ERROR, "a pattern id is declared twice"),
    ("log_patterns/example-capture-type", ERROR, "an example's capture is not of its declared type"),
    ("log_patterns/example-keywords", ERROR, "an example contains none of the pattern's keywords"),
    ("log_patterns/example-mismatch", ERROR, "the regex does not match one of its examples"),
    ("log_patterns/id-namespace", ERROR, "a pattern id does not start with its runtime"),
    ("log_patterns/inline-flags", ERROR, "a regex uses inline global flags"),
    ("log_patterns/no-prefilter", WARNING, "a pattern cannot be pre-filtered by a keyword and is left out"),
    ("log_patterns/per-process", ERROR, "per_process without a string capture or constant to record"),
    ("log_patterns/reserved-category", ERROR, "a category name is reserved"),
    ("log_patterns/undeclared-capture", ERROR, "a named group of the regex is not declared in captures"),
    ("log_patterns/undeclared-group", ERROR, "a declared capture is not a named group of the regex"),
    ("log_patterns/value-signals", ERROR, "value_signals names no string capture or constant"),
]

CHECKS: dict[str, Check] = {cid: Check(cid, sev, desc) for cid, sev, desc in _TABLE}


def severity_of(rule: str | None) -> str:
    """The severity of a problem's check id; an undeclared id is a defect of ours."""
    from inferguard.core.problems import InternalError

    if rule is None or rule not in CHECKS:
        raise InternalError(f"spec problem with an undeclared check id {rule!r} (declare it in inferguard/spec/checks.py)")
    return CHECKS[rule].severity


def table_markdown() -> str:
    lines = ["| check | severity | what it finds |", "|---|---|---|"]
    for c in CHECKS.values():
        lines.append(f"| `{c.id}` | {c.severity} | {c.description} |")
    return "\n".join(lines)
