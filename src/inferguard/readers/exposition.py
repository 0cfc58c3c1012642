"""The plain data a Prometheus scrape is read into: the contract between the Prometheus reader
(readers/prometheus.py, which fills it) and the evidence builder (evidence.py, which reads
it). Neither side reaches into the other; both import this.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from inferguard.core import recache

_LABEL_RE = recache.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*+)\s*=\s*"((?:[^"\\]++|\\.)*+)"\s*(,|$)')
_UNESCAPE_RE = recache.compile(r'\\(.)')
PLAIN_LABELS_RE = recache.compile(r'(?:[a-zA-Z_][a-zA-Z0-9_]*+="[^"\\]*+",)*+(?:[a-zA-Z_][a-zA-Z0-9_]*+="[^"\\]*+")?\Z')
_PLAIN_PAIR_RE = recache.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')
_UNESCAPE = {"n": "\n", "\\": "\\", '"': '"'}
_SPECIAL_FLOATS = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf"), "Inf": float("inf")}


def parse_labels(text: str) -> dict[str, str] | None:
    """Decode the inside of a `{...}` label block; None when it is malformed."""
    if PLAIN_LABELS_RE.match(text) is not None:
        # The plain form has no escapes and no quote inside a value: pairs are exact.
        return dict(_PLAIN_PAIR_RE.findall(text))
    out: dict[str, str] = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = _LABEL_RE.match(text, pos)
        if not m:
            if text[pos:].strip() in ("", ","):
                break
            return None
        value = m.group(2)
        if "\\" in value:
            value = _UNESCAPE_RE.sub(lambda mm: _UNESCAPE.get(mm.group(1), "\\" + mm.group(1)), value)
        out[m.group(1)] = value
        pos = m.end()
    return out


def le_value_span(text: str) -> tuple[int, int] | None:
    """Where the value of the `le` label that parse_labels keeps (the last one) sits in a
    label text of the plain form; None for any other text, or one without `le`.

    Another text that is the same outside that span, and whose text inside it holds no quote
    and no backslash, decodes to the same labels but for `le`, which is that text."""
    if PLAIN_LABELS_RE.match(text) is None:
        return None
    span = None
    for m in _PLAIN_PAIR_RE.finditer(text):
        if m.group(1) == "le":
            span = m.span(2)
    return span


def parse_float(token: str) -> float | None:
    v = _SPECIAL_FLOATS.get(token)
    if v is not None:
        return v
    if "_" in token:  # Python accepts `1_000`; the exposition formats do not
        return None
    try:
        return float(token)
    except ValueError:
        return None


@dataclass
class FamilyData:
    """Samples of one exposed family that the spec index knows (raw label text -> value)."""

    name: str
    type: str
    metric_id: str
    samples: dict[str, float] = field(default_factory=dict)              # counter/gauge/info
    sums: dict[str, float] = field(default_factory=dict)                 # histogram/summary
    counts: dict[str, float] = field(default_factory=dict)
    buckets: list[tuple[str, float]] = field(default_factory=list)       # raw labels incl. le
    quantiles: list[tuple[str, float]] = field(default_factory=list)
    created: int = 0
    first_line: int = 0
    listed_keys: set[str] = field(default_factory=set, repr=False)      # bucket/quantile label texts seen


@dataclass
class Exposition:
    """What one scrape said: indexed families in detail, the rest as counts."""

    path: str
    format: str = "prometheus-text-0.0.4"
    families: dict[str, FamilyData] = field(default_factory=dict)        # by exposed family name
    other_families: dict[str, int] = field(default_factory=dict)         # unindexed: samples
    other_overflow_samples: int = 0      # samples of unindexed families past OTHER_FAMILIES_BUDGET
    unchecked_series: int = 0            # unindexed series not checked for duplicates (budget)
    types: dict[str, str] = field(default_factory=dict)
    declared: dict[str, int] = field(default_factory=dict)               # HELP/TYPE name -> first line
    helps: int = 0
    samples: int = 0
    created_series: int = 0
    lines: int = 0
