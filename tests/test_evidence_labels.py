"""The evidence builder decodes each histogram label text once, and reuses the decoding of
the previous bucket of the same series: the entries are those of decoding every text."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from inferguard.evidence import MAX_LABEL_VALUES, MAX_SERIES_SHOWN, _metric_entry
from inferguard.readers.exposition import FamilyData, le_value_span, parse_labels
from inferguard.spec.metrics import MetricDef

_names = st.sampled_from(["le", "model_name", "engine", "handle", "quantile", "a", "le_x", "xle"])
_plain_value = st.text(alphabet='ab,=}{ le"\\.+Inf0', max_size=6).filter(lambda v: '"' not in v and "\\" not in v)
_any_value = st.one_of(
    st.text(alphabet='ab,=}{ le".\\n+Inf0', max_size=6),
    # texts that close the le value and open another label, or escape
    st.sampled_from(['1",a="b', '+Inf",engine="0', '2",le="3', 'x\\"y', '",a="', '0.5', '+Inf', 'Inf', 'inf', '+inf']))


def _render(pairs: list[tuple[str, str]], escape: bool) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{esc(v) if escape else v}"' for k, v in pairs)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_names, _plain_value), min_size=1, max_size=5), _plain_value)
def test_the_text_around_the_le_value_decodes_to_the_same_labels(pairs, new_le):
    text = _render(pairs, escape=False)
    span = le_value_span(text)
    labels = parse_labels(text)
    assert labels is not None
    if span is None:
        assert "le" not in labels
        return
    assert text[span[0]:span[1]] == labels["le"]
    other = text[:span[0]] + new_le + text[span[1]:]
    assert parse_labels(other) == {**labels, "le": new_le}


def _reference(fd: FamilyData) -> tuple[list, dict, dict]:
    """Keys, per-key buckets and label values, decoding every label text (the plain way)."""
    def key_of(raw):
        labels = parse_labels(raw) or {}
        return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in ("le", "quantile"))

    buckets: dict[str, dict] = {}
    raws_by_key: dict[str, list] = {}
    for raw, v in fd.buckets:
        buckets.setdefault(key_of(raw), {})[(parse_labels(raw) or {}).get("le")] = v
        raws_by_key.setdefault(key_of(raw), []).append(raw)
    counts = {key_of(k): v for k, v in fd.counts.items()}
    sums = {key_of(k): v for k, v in fd.sums.items()}
    keys = list(dict.fromkeys(list(counts) + list(sums) + list(buckets)))
    values: dict[str, set] = {}
    for raw in [r for rs in raws_by_key.values() for r in rs] + list(fd.counts) + list(fd.sums):
        for k, v in (parse_labels(raw) or {}).items():
            if k in ("le", "quantile"):
                continue
            s = values.setdefault(k, set())
            if len(s) < MAX_LABEL_VALUES:
                s.add(v)
    per_count = []
    nonzero, nonfinite = False, 0
    for k in keys:  # the count of a series is its _count, else its first +Inf bucket
        c = counts.get(k)
        if c is None:
            c = next((v for le, v in buckets.get(k, {}).items() if le in ("+Inf", "Inf", "+inf", "inf")), None)
        if c is not None:
            per_count.append(c)
        for v in [c, sums.get(k), *buckets.get(k, {}).values()]:
            if v is None:
                continue
            if math.isnan(v) or math.isinf(v):
                nonfinite += 1
            elif v != 0:
                nonzero = True
    return keys, per_count, {k: sorted(v) for k, v in sorted(values.items())}, nonzero, nonfinite


_series = st.lists(st.tuples(_names, _any_value), min_size=0, max_size=4)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_series, st.lists(_any_value, min_size=1, max_size=4), st.booleans()), min_size=1, max_size=6),
       st.booleans(), st.randoms(use_true_random=False))
def test_histogram_entries_are_those_of_decoding_every_text(series, escape, rnd):
    fd = FamilyData("h", "histogram", "m.h")
    for pairs, les, with_count in series:
        for le in les:
            raw = _render([p for p in pairs if p[0] != "le"] + [("le", le)] + [p for p in pairs if p[0] == "le"][:1], escape)
            if raw not in fd.listed_keys and parse_labels(raw) is not None:
                fd.listed_keys.add(raw)
                fd.buckets.append((raw, rnd.choice([0.0, 1.0, 3.0, float("nan"), float("inf")])))
        base = _render([p for p in pairs if p[0] not in ("le", "quantile")], escape)
        if with_count and parse_labels(base) is not None:
            fd.counts[base] = rnd.choice([0.0, 5.0, float("nan")])
            fd.sums[base] = rnd.choice([0.0, 0.5, float("-inf")])
    if not fd.buckets and not fd.counts:
        return
    if rnd.random() < 0.5:
        rnd.shuffle(fd.buckets)
    mdef = MetricDef("m.h", "f", "vllm", None, "histogram", "seconds", "sum", (), "stable", "t", ())
    got = _metric_entry(fd, mdef, "engine_metrics")
    keys, per_count, values, nonzero, nonfinite = _reference(fd)
    assert (got["nonzero"], got["nonfinite"]) == (nonzero, nonfinite)
    assert got["series"] == len(keys)
    assert got["label_values"] == values
    assert [s["labels"] for s in got["series_shown"]] == [(parse_labels(k) or {}) if k else {} for k in keys[:MAX_SERIES_SHOWN]]
    expected = math.fsum(v for v in per_count if not math.isnan(v)) if any(not math.isnan(v) for v in per_count) else None
    assert (got["count"] is None and expected is None) or got["count"] == expected or (
        math.isnan(got["count"]) and math.isnan(expected))
