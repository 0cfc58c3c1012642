"""The plain data a Prometheus scrape is read into: the contract between the Prometheus reader
(readers/prometheus.py, which fills it) and the evidence builder (evidence.py, which reads
it). Neither side reaches into the other; both import this.
"""
from __future__ import annotations

from inferguard.core import recache
from inferguard.core.record import Record

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


class FamilyData(Record):
    """Samples of one exposed family that the spec index knows (raw label text -> value)."""

    _fields = ("name", "type", "metric_id", "samples", "sums", "counts", "buckets", "quantiles", "created",
               "first_line", "listed_keys")
    _no_repr = frozenset({"listed_keys"})

    def __init__(self, name: str, type: str, metric_id: str, samples: dict[str, float] | None = None,  # noqa: A002
                 sums: dict[str, float] | None = None, counts: dict[str, float] | None = None,
                 buckets: list[tuple[str, float]] | None = None, quantiles: list[tuple[str, float]] | None = None,
                 created: int = 0, first_line: int = 0, listed_keys: set[str] | None = None) -> None:
        self.name = name
        self.type = type
        self.metric_id = metric_id
        self.samples = {} if samples is None else samples          # counter/gauge/info
        self.sums = {} if sums is None else sums                   # histogram/summary
        self.counts = {} if counts is None else counts
        self.buckets = [] if buckets is None else buckets          # raw labels incl. le
        self.quantiles = [] if quantiles is None else quantiles
        self.created = created
        self.first_line = first_line
        self.listed_keys = set() if listed_keys is None else listed_keys   # bucket/quantile label texts seen


class Exposition(Record):
    """What one scrape said: indexed families in detail, the rest as counts."""

    _fields = ("path", "format", "families", "other_families", "other_overflow_samples", "unchecked_series",
               "types", "declared", "helps", "samples", "created_series", "lines")

    def __init__(self, path: str, format: str = "prometheus-text-0.0.4",  # noqa: A002
                 families: dict[str, FamilyData] | None = None, other_families: dict[str, int] | None = None,
                 other_overflow_samples: int = 0, unchecked_series: int = 0, types: dict[str, str] | None = None,
                 declared: dict[str, int] | None = None, helps: int = 0, samples: int = 0,
                 created_series: int = 0, lines: int = 0) -> None:
        self.path = path
        self.format = format
        self.families = {} if families is None else families                # by exposed family name
        self.other_families = {} if other_families is None else other_families  # unindexed: samples
        self.other_overflow_samples = other_overflow_samples  # samples of unindexed families past OTHER_FAMILIES_BUDGET
        self.unchecked_series = unchecked_series              # unindexed series not checked for duplicates (budget)
        self.types = {} if types is None else types
        self.declared = {} if declared is None else declared                # HELP/TYPE name -> first line
        self.helps = helps
        self.samples = samples
        self.created_series = created_series
        self.lines = lines
