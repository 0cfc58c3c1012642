"""Metric-name normalization, in one place.

Exposed names differ by release and by exporter: `vllm:x` versus `vllm_x` (the colon
rewrite of OpenMetrics exposition with underscore escaping), OTel instrument names with
dots, counters with and without `_total`, and OTel unit suffixes appended by the
Prometheus exporter. `fold()` maps every exposed form of one family to one key; the
MetricFamilies spec lists the names, and the index built from them is keyed by `fold()`.
"""
from __future__ import annotations

# Histogram / summary sample suffixes, longest first so `_bucket` wins over nothing.
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum", "_gsum", "_gcount")
SUMMARY_SUFFIXES = ("_count", "_sum")
COUNTER_SUFFIXES = ("_total",)
CREATED_SUFFIX = "_created"
INFO_SUFFIX = "_info"

# OTel unit -> Prometheus name suffix, as the OTel Prometheus exporter appends it.
# `{...}` annotations add no suffix.
OTEL_UNIT_SUFFIX = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "GB/s": "GB_per_second",
    "MB/s": "MB_per_second",
    "1": "ratio",
    "%": "percent",
}

_FOLD_TABLE = str.maketrans({":": "_", ".": "_"})


def fold(name: str) -> str:
    """The match key of an exposed metric family name."""
    key = name.translate(_FOLD_TABLE)
    if key.endswith("_total"):
        key = key[:-6]
    return key


def otel_unit_suffix(unit: str | None) -> str:
    if not unit or (unit.startswith("{") and unit.endswith("}")):
        return ""
    if unit in OTEL_UNIT_SUFFIX:
        return OTEL_UNIT_SUFFIX[unit]
    if "/" in unit:
        a, _, b = unit.partition("/")
        return f"{OTEL_UNIT_SUFFIX.get(a, a)}_per_{ {'s': 'second', 'm': 'minute', 'h': 'hour'}.get(b, b)}"
    return unit


def otel_to_prom(name: str, unit: str | None, is_counter: bool) -> str:
    """The Prometheus family name the OTel exporter gives an instrument (name, unit, kind)."""
    base = name.translate(_FOLD_TABLE)
    suffix = otel_unit_suffix(unit)
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    if is_counter and not base.endswith("_total"):
        base += "_total"
    return base
