"""The Prometheus text / OpenMetrics reader (inferguard.readers.prometheus).

Unit tests pin the guarantees of the reader; the differential tests compare it with
prometheus_client's own parser, on every exposition in the fixtures and the real captures and
on generated expositions, sample by sample.

How the two parsers are compared. prometheus_client yields families of samples; our reader keeps
per exposed family a dict (or list) per role: plain values, `_sum`, `_count`, buckets, quantiles,
and counts `_created` series apart. Both are flattened to {(sample name, sorted labels): value}:

* Our roles are mapped back to sample names: sums -> `<family>_sum`, counts -> `<family>_count`,
  buckets -> `<family>_bucket`, quantiles -> `<family>`. A counter family whose name does not end
  in `_total` maps its values to `<family>_total`: prometheus_client renames the samples of a
  legacy `# TYPE x counter` / `x 1` pair to `x_total` (its internal OpenMetrics form), and an
  OpenMetrics counter (`# TYPE x counter` / `x_total 1`) is sample `x_total` on both sides.
* `_created` samples are left out on both sides: prometheus_client returns them as samples (as
  gauge families of their own in 0.0.4 text), while our reader records them as metadata of their
  family on purpose (they are timestamps, never evidence of activity).
* prometheus_client returns integral values as `int` (`int("12345678901234567891")` is exact, the
  format's value is a float64); its values are compared after `float()`. NaN equals NaN here.
* prometheus_client keeps both copies of a duplicate series; the format forbids duplicates and our
  reader keeps the first and reports the rest, so the generated expositions never repeat a series.
* Files are taken as expositions when they hold a `# HELP` or `# TYPE` line; the `.body` files of
  the HTTP API captures that are JSON or plain text are not expositions and are skipped.
"""
from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from inferguard.spec.names import fold
from inferguard.readers.exposition import FamilyData, parse_labels
from inferguard.readers.prometheus import read

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def keep_all(name: str) -> str:
    """A lookup that keeps every family sample by sample (metric id = exposed family name)."""
    return name


def parse(text: str, lookup=keep_all):
    return read("<text>", lookup, lines=io.StringIO(text))


def fam(expo, name: str) -> FamilyData:
    assert name in expo.families, sorted(expo.families)
    return expo.families[name]


def problem_lines(result) -> list[int | None]:
    return [p.line for p in result.problems]


# --- values and timestamps ------------------------------------------------------------------------


def test_timestamp_is_never_the_value():
    expo, res = parse('foo 1.5 1700000000000\nbar{a="b"} 2.5 1700000000000\nbaz -3e-2 -17\n')
    assert fam(expo, "foo").samples == {"": 1.5}
    assert fam(expo, "bar").samples == {'a="b"': 2.5}
    assert fam(expo, "baz").samples == {"": -0.03}
    assert res.problems == []
    assert expo.samples == 3


def test_nan_and_infinities():
    expo, res = parse('# TYPE g gauge\ng{k="nan"} NaN\ng{k="pinf"} +Inf\ng{k="ninf"} -Inf\ng{k="inf"} Inf\n')
    s = fam(expo, "g").samples
    assert math.isnan(s['k="nan"'])
    assert s['k="pinf"'] == math.inf and s['k="inf"'] == math.inf
    assert s['k="ninf"'] == -math.inf
    assert res.problems == []


def test_value_with_underscores_or_words_is_a_problem():
    expo, res = parse("a 1_000\nb one\nc 1 notatime\nd 1 2 3\ne 7\n")
    assert problem_lines(res) == [1, 2, 3, 4]
    assert set(expo.families) == {"e"}


# --- labels ---------------------------------------------------------------------------------------


def test_label_escapes_are_decoded():
    line = r'foo{q="say \"hi\"",path="C:\\dir\\",text="line1\nline2",odd="\t"} 1' + "\n"
    expo, res = parse(line)
    assert res.problems == []
    (raw,) = fam(expo, "foo").samples
    assert parse_labels(raw) == {"q": 'say "hi"', "path": "C:\\dir\\", "text": "line1\nline2", "odd": "\\t"}


def test_braces_commas_and_hashes_inside_label_values():
    text = 'foo{a="}{",b=",=",c="x # y"} 4\nfoo{a="plain"} 5 # {trace_id="abc"} 1.0 1700000000\n'
    expo, res = parse(text)
    assert res.problems == []
    got = {tuple(sorted(parse_labels(r).items())): v for r, v in fam(expo, "foo").samples.items()}
    assert got == {(("a", "}{"), ("b", ",="), ("c", "x # y")): 4.0, (("a", "plain"),): 5.0}


def test_unicode_line_separators_inside_a_label_value_do_not_split_the_line(tmp_path):
    p = tmp_path / "m.prom"
    p.write_text('foo{a="x\u2028y\x85z"} 3\nbar 1\n', encoding="utf-8")
    expo, res = read(str(p), keep_all)
    assert res.problems == []
    assert parse_labels(next(iter(fam(expo, "foo").samples))) == {"a": "x\u2028y\x85z"}
    assert fam(expo, "bar").samples == {"": 1.0}


def test_parse_labels_rejects_malformed_text():
    assert parse_labels("") == {}
    assert parse_labels('a="1",b="2",') == {"a": "1", "b": "2"}
    assert parse_labels('a="1"b="2"') is None
    assert parse_labels("a=1") is None
    assert parse_labels('="1"') is None


# --- _created, histograms, summaries, OpenMetrics -------------------------------------------------


def test_created_series_are_never_samples_openmetrics_style():
    text = (
        "# TYPE c counter\n"
        'c_total{m="a"} 5\n'
        'c_created{m="a"} 1.7e9\n'
        "# TYPE h histogram\n"
        'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 3.5\nh_created 1.7e9\n'
        "# EOF\n"
    )
    expo, res = parse(text)
    assert res.problems == []
    c, h = fam(expo, "c"), fam(expo, "h")
    assert c.samples == {'m="a"': 5.0} and c.created == 1
    assert h.created == 1 and h.counts == {"": 2.0}
    assert expo.samples == 5 and expo.created_series == 2
    assert not any(n.endswith("_created") for n in list(expo.families) + list(expo.other_families))


def test_created_series_are_never_samples_prometheus_client_0_0_4_style():
    # What prometheus_client (and so vLLM) serves: `_created` as a gauge family of its own.
    text = (
        "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
        "# TYPE vllm:prompt_tokens_total counter\n"
        'vllm:prompt_tokens_total{engine="0",model_name="m"} 22130.0\n'
        "# HELP vllm:prompt_tokens_created Number of prefill tokens processed.\n"
        "# TYPE vllm:prompt_tokens_created gauge\n"
        'vllm:prompt_tokens_created{engine="0",model_name="m"} 1.778194974408e+09\n'
        "# HELP vllm:iteration_tokens_total Histogram of number of tokens per engine_step.\n"
        "# TYPE vllm:iteration_tokens_total histogram\n"
        'vllm:iteration_tokens_total_bucket{engine="0",le="1.0",model_name="m"} 3.0\n'
        'vllm:iteration_tokens_total_bucket{engine="0",le="+Inf",model_name="m"} 9.0\n'
        'vllm:iteration_tokens_total_count{engine="0",model_name="m"} 9.0\n'
        'vllm:iteration_tokens_total_sum{engine="0",model_name="m"} 240.0\n'
        "# HELP vllm:iteration_tokens_total_created Histogram of number of tokens per engine_step.\n"
        "# TYPE vllm:iteration_tokens_total_created gauge\n"
        'vllm:iteration_tokens_total_created{engine="0",model_name="m"} 1.778194974408e+09\n'
        "# TYPE process_start_time_created gauge\n"
        "process_start_time_created 12\n"  # a gauge whose name merely ends in _created
    )
    expo, res = parse(text)
    assert res.problems == []
    c = fam(expo, "vllm:prompt_tokens_total")
    h = fam(expo, "vllm:iteration_tokens_total")
    assert c.samples == {'engine="0",model_name="m"': 22130.0} and c.created == 1
    assert h.counts == {'engine="0",model_name="m"': 9.0} and h.created == 1 and len(h.buckets) == 2
    assert "vllm:prompt_tokens_created" not in expo.families
    assert "vllm:iteration_tokens_total_created" not in expo.families
    assert fam(expo, "process_start_time_created").samples == {"": 12.0}
    assert expo.created_series == 2
    assert expo.samples == 6


def test_created_alone_never_creates_a_family():
    expo, res = parse('foo_created{a="b"} 1.7e9\n')
    assert expo.families == {} and expo.other_families == {}
    assert expo.created_series == 1 and expo.samples == 0 and res.problems == []


@pytest.mark.parametrize("typed", [True, False], ids=["with-TYPE", "without-TYPE"])
def test_histogram_series_are_grouped_into_their_family(typed):
    text = (
        ("# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n" if typed else "")
        + 'lat_seconds_bucket{le="0.1",model="a"} 1\n'
        + 'lat_seconds_bucket{le="1.0",model="a"} 4\n'
        + 'lat_seconds_bucket{le="+Inf",model="a"} 5\n'
        + 'lat_seconds_count{model="a"} 5\n'
        + 'lat_seconds_sum{model="a"} 2.25\n'
    )
    expo, res = parse(text)
    assert res.problems == []
    assert list(expo.families) == ["lat_seconds"]
    h = fam(expo, "lat_seconds")
    assert h.type == "histogram"
    assert [parse_labels(r)["le"] for r, _ in h.buckets] == ["0.1", "1.0", "+Inf"]
    assert [v for _, v in h.buckets] == [1.0, 4.0, 5.0]
    assert h.counts == {'model="a"': 5.0} and h.sums == {'model="a"': 2.25}
    assert h.samples == {}


def test_untyped_count_and_sum_without_buckets_stay_their_own_families():
    expo, res = parse("jobs_count 3\njobs_sum 9\n")
    assert set(expo.families) == {"jobs_count", "jobs_sum"}
    assert fam(expo, "jobs_count").samples == {"": 3.0}


def test_summary_quantiles():
    text = (
        "# TYPE rpc_seconds summary\n"
        'rpc_seconds{quantile="0.5",svc="x"} 0.01\n'
        'rpc_seconds{quantile="0.99",svc="x"} 0.2\n'
        'rpc_seconds_sum{svc="x"} 12.5\n'
        'rpc_seconds_count{svc="x"} 1000\n'
        'rpc_seconds_created{svc="x"} 1.7e9\n'
    )
    expo, res = parse(text)
    assert res.problems == []
    s = fam(expo, "rpc_seconds")
    assert s.type == "summary"
    assert [(parse_labels(r)["quantile"], v) for r, v in s.quantiles] == [("0.5", 0.01), ("0.99", 0.2)]
    assert s.sums == {'svc="x"': 12.5} and s.counts == {'svc="x"': 1000.0}
    assert s.created == 1 and expo.samples == 4


def test_openmetrics_eof_and_total_counter_typed_on_base_name():
    text = (
        "# HELP lmcache_mp_lookup_hit_tokens Tokens found.\n"
        "# TYPE lmcache_mp_lookup_hit_tokens counter\n"
        "# UNIT lmcache_mp_lookup_hit_tokens tokens\n"
        'lmcache_mp_lookup_hit_tokens_total{cache_salt=""} 18432 1700000000.123\n'
        'lmcache_mp_lookup_hit_tokens_created{cache_salt=""} 1700000000.0\n'
        "# TYPE build info\n"
        'build_info{version="1"} 1\n'
        "# EOF\n"
    )
    expo, res = parse(text)
    assert res.problems == []
    assert expo.format == "openmetrics-1.0.0"
    c = fam(expo, "lmcache_mp_lookup_hit_tokens")
    assert c.type == "counter" and c.samples == {'cache_salt=""': 18432.0} and c.created == 1
    assert fam(expo, "build").samples == {'version="1"': 1.0}
    assert expo.types["lmcache_mp_lookup_hit_tokens"] == "counter"


def test_plain_text_format_is_reported_as_0_0_4():
    expo, _ = parse("# TYPE a gauge\na 1\n")
    assert expo.format == "prometheus-text-0.0.4"


# --- names ----------------------------------------------------------------------------------------


def test_colon_rewritten_name_folds_to_the_same_key():
    assert fold("vllm_prompt_tokens_total") == fold("vllm:prompt_tokens") == fold("vllm:prompt_tokens_total")
    assert fold("lmcache.mp.lookup_hit_tokens") == fold("lmcache_mp_lookup_hit_tokens_total")
    assert fold("vllm:time_to_first_token_seconds") != fold("vllm:time_to_first_token")


def test_colon_rewritten_exposition_matches_the_same_metric(spec):
    from inferguard.spec.metrics import catalog

    cat = catalog(spec)
    lookup = lambda n: (cat.lookup(n) or (None,))[0]  # noqa: E731 - the pipeline's lookup
    assert cat.lookup("vllm:prompt_tokens") is not None
    assert cat.lookup("vllm_prompt_tokens_total")[0] == cat.lookup("vllm:prompt_tokens")[0]
    colon, _ = parse('# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{engine="0"} 7\n', lookup)
    under, _ = parse('# TYPE vllm_prompt_tokens_total counter\nvllm_prompt_tokens_total{engine="0"} 7\n', lookup)
    (a,), (b,) = colon.families.values(), under.families.values()
    assert a.metric_id == b.metric_id == cat.lookup("vllm:prompt_tokens")[0]
    assert a.samples == b.samples == {'engine="0"': 7.0}


def test_unknown_families_are_only_counted():
    expo, res = parse("# TYPE x gauge\nx 1\nx{a=\"b\"} 2\n# TYPE y gauge\ny 3\n", lookup=lambda n: "y.id" if n == "y" else None)
    assert list(expo.families) == ["y"] and expo.families["y"].metric_id == "y.id"
    assert expo.other_families == {"x": 2}
    assert expo.samples == 3 and res.summary["families"] == 2 and res.summary["indexed_families"] == 1


# --- problems -------------------------------------------------------------------------------------


def test_duplicate_series_is_a_problem_and_the_first_value_is_kept():
    text = (
        "# TYPE c counter\n"
        'c_total{a="1"} 10\n'
        'c_total{a="1"} 99\n'           # line 3
        "# TYPE h histogram\n"
        'h_bucket{le="+Inf"} 2\n'
        'h_bucket{le="+Inf"} 3\n'       # line 6
        "h_count 2\n"
        "h_count 3\n"                   # line 8
        "h_sum 1\n"
        "u 1\n"
        "u 2\n"                         # line 11
    )
    expo, res = parse(text, lookup=lambda n: None if n == "u" else n)
    assert problem_lines(res) == [3, 6, 8, 11]
    assert all("duplicate series" in p.message for p in res.problems)
    assert fam(expo, "c").samples == {'a="1"': 10.0}
    assert fam(expo, "h").buckets == [('le="+Inf"', 2.0)] and fam(expo, "h").counts == {"": 2.0}


def test_garbage_and_truncated_lines_are_problems_and_the_rest_is_used():
    text = (
        "# TYPE good_total counter\n"          # 1
        "good_total 1\n"                       # 2
        "this is not a metric\n"               # 3
        'trunc{a="b" 5\n'                      # 4 unterminated label set
        'trunc2{a="b"}\n'                      # 5 no value
        "lonely\n"                             # 6 no value
        "bad-name 4\n"                         # 7 invalid metric name
        "{} 3\n"                               # 8 no metric name
        "# TYPE x sometype\n"                  # 9 malformed TYPE
        'lab{a=1} 2\n'                         # 10 unquoted label value
        "good2 2.5\n"                          # 11
        'good3{a="x"} 3'                       # 12 last line without a newline: may be cut
    )
    expo, res = parse(text)
    assert problem_lines(res) == [3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert "mid-line" in res.problems[-1].message and res.summary["cut"]["family"] == "good3"
    assert fam(expo, "good_total").samples == {"": 1.0}
    assert fam(expo, "good2").samples == {"": 2.5}
    assert fam(expo, "good3").samples == {'a="x"': 3.0}
    assert expo.samples == 3 and expo.lines == 12
    assert all(p.source == "prometheus" and p.path == "<text>" for p in res.problems)


def test_truncated_file_keeps_everything_before_the_cut(tmp_path):
    full = "".join(f'# TYPE m{i} gauge\nm{i}{{k="v"}} {i}\n' for i in range(50))
    p = tmp_path / "cut.prom"
    p.write_text(full[: len(full) // 2 + 7])
    expo, res = read(str(p), keep_all)
    # the cut line itself may be a problem; the cut is always one, on the last line
    assert 1 <= len(res.problems) <= 2 and "mid-line" in res.problems[-1].message
    assert all(fam(expo, f"m{i}").samples == {'k="v"': float(i)} for i in range(20))


def test_empty_file_never_raises(tmp_path):
    p = tmp_path / "empty.prom"
    p.write_bytes(b"")
    expo, res = read(str(p), keep_all)
    assert res.problems == [] and expo.samples == 0 and expo.families == {} and res.summary["lines"] == 0
    expo, res = read("<none>", keep_all, lines=[])
    assert expo.samples == 0


def test_binary_file_never_raises(tmp_path):
    rng = random.Random(20240607)
    blob = bytes(rng.randrange(256) for _ in range(64 * 1024)) + b"\x00\xff\xfe{{{\"\\\n" * 50
    p = tmp_path / "blob.prom"
    p.write_bytes(blob)
    expo, res = read(str(p), keep_all)
    assert res.records == expo.samples
    assert res.problems, "random bytes are not an exposition"
    assert len(res.problems) + res.problems_dropped >= 50
    assert all(p.line for p in res.problems)


def test_unreadable_path_is_a_problem_not_an_exception(tmp_path):
    expo, res = read(str(tmp_path), keep_all)  # a directory
    assert res.problems and expo.samples == 0
    expo, res = read(str(tmp_path / "missing.prom"), keep_all)
    assert res.problems and "cannot read" in res.problems[0].message


# --- evidence aggregation with the real spec catalog -----------------------------------------------


def test_cache_salt_series_are_summed_through_add_exposition(spec):
    from inferguard.evidence import add_exposition, new_evidence
    from inferguard.spec.metrics import catalog

    cat = catalog(spec)
    assert cat.lookup("lmcache_mp_lookup_hit_tokens_total")[0] == "lmcache_mp.lookup_hit_tokens"
    text = (
        "# HELP lmcache_mp_lookup_hit_tokens_total Total tokens found in the cache\n"
        "# TYPE lmcache_mp_lookup_hit_tokens_total counter\n"
        'lmcache_mp_lookup_hit_tokens_total{cache_salt="tenant-a",model_name="m"} 150.0\n'
        'lmcache_mp_lookup_hit_tokens_total{cache_salt="tenant-b",model_name="m"} 50.0\n'
        "# HELP lmcache_mp_lookup_hit_tokens_created Total tokens found in the cache\n"
        "# TYPE lmcache_mp_lookup_hit_tokens_created gauge\n"
        'lmcache_mp_lookup_hit_tokens_created{cache_salt="tenant-a",model_name="m"} 1.7e9\n'
        'lmcache_mp_lookup_hit_tokens_created{cache_salt="tenant-b",model_name="m"} 1.7e9\n'
    )
    expo, res = read("lmcache.prom", lambda n: (cat.lookup(n) or (None,))[0], lines=io.StringIO(text))
    evidence = new_evidence(spec, {})
    add_exposition(evidence, expo, res, cat, "lmcache_metrics")
    m = evidence["metrics"]["lmcache_mp.lookup_hit_tokens"]
    assert m["value"] == 200.0
    assert m["series"] == 2
    assert m["created_series"] == 2
    assert m["exposed_names"] == ["lmcache_mp_lookup_hit_tokens_total"]
    assert m["label_values"]["cache_salt"] == ["tenant-a", "tenant-b"]
    assert evidence["sources"][0]["unmapped_families_total"] == 0


# --- differential: prometheus_client's parser versus ours -----------------------------------------


def _value(v) -> float:
    return float(v)


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _explain(a: dict, b: dict) -> str:
    only_a = sorted(set(a) - set(b))[:5]
    only_b = sorted(set(b) - set(a))[:5]
    differ = [(k, a[k], b[k]) for k in a if k in b and not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))][:5]
    return f"only prometheus_client: {only_a}\nonly ours: {only_b}\nvalues differ: {differ}"


def client_samples(text: str) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series in the input: {key}"
            out[key] = _value(s.value)
    return out


def our_samples(expo) -> dict[tuple, float]:
    out: dict[tuple, float] = {}

    def put(name: str, raw: str, v: float) -> None:
        if name.endswith("_created"):
            return
        labels = parse_labels(raw)
        assert labels is not None, raw
        key = (name, tuple(sorted(labels.items())))
        assert key not in out, key
        out[key] = v

    for fd in expo.families.values():
        if fd.type == "counter" and not fd.name.endswith("_total"):
            value_name = fd.name + "_total"
        elif fd.type == "info" and not fd.name.endswith("_info"):
            value_name = fd.name + "_info"
        else:
            value_name = fd.name
        g = "g" if fd.type == "gaugehistogram" else ""
        for raw, v in fd.samples.items():
            put(value_name, raw, v)
        for raw, v in fd.sums.items():
            put(f"{fd.name}_{g}sum", raw, v)
        for raw, v in fd.counts.items():
            put(f"{fd.name}_{g}count", raw, v)
        for raw, v in fd.buckets:
            put(fd.name + "_bucket", raw, v)
        for raw, v in fd.quantiles:
            put(fd.name, raw, v)
    return out


def _is_exposition(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith(("# HELP ", "# TYPE ")) for line in head.splitlines())


def exposition_files() -> list[Path]:
    found: list[Path] = []
    for pattern in ("**/*.prom", "**/*.txt", "**/*.body"):
        found.extend(FIXTURES.glob(pattern))
    return sorted({p for p in found if p.is_file() and _is_exposition(p)})


EXPOSITIONS = exposition_files()


def _id(p: Path) -> str:
    return f"fixtures/{p.relative_to(FIXTURES)}"


def test_there_are_expositions_to_compare():
    assert len(EXPOSITIONS) >= 3, EXPOSITIONS


@pytest.mark.parametrize("path", EXPOSITIONS, ids=_id)
def test_differential_against_prometheus_client_on_real_expositions(path):
    text = path.read_text(encoding="utf-8")
    expected = client_samples(text)
    expo, res = read(str(path), keep_all)
    assert res.problems == [], [p.format() for p in res.problems[:5]]
    got = our_samples(expo)
    assert _same(expected, got), _explain(expected, got)
    assert expo.samples == len(expected)
    created_lines = sum(1 for line in text.splitlines() if line and line[0] != "#" and
                        line.split("{", 1)[0].split(" ", 1)[0].endswith("_created"))
    assert expo.created_series == created_lines


# Generated expositions. Family names never end in a suffix the format gives a meaning to, so a
# family's samples cannot be mistaken for another family's (the format leaves that ambiguous).
_RESERVED_SUFFIXES = ("_total", "_created", "_bucket", "_sum", "_count", "_info", "_gsum", "_gcount")

metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,14}", fullmatch=True).filter(
    lambda n: not n.endswith(_RESERVED_SUFFIXES))
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not n.startswith("__") and n not in ("le", "quantile"))
label_values = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('"\\\n{}=,# \t') + ["\u2028", "\x85", "é", "模", "/", ":"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r"),
    ),
    max_size=12,
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["NaN", "+Inf", "-Inf", "0", "-0.0", "1e-300", "3.0e+10"]),
)
timestamps = st.one_of(st.none(), st.integers(min_value=0, max_value=2**42))


def render_value(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_labels(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in pairs) + "}"


@st.composite
def families(draw, name: str):
    kind = draw(st.sampled_from(["counter_om", "counter_total", "counter_legacy", "gauge", "untyped",
                                 "histogram", "summary"]))
    typed = draw(st.booleans()) if kind in ("untyped", "histogram", "summary") else True
    names = draw(st.lists(label_names, unique=True, max_size=3))
    series = draw(st.lists(st.tuples(*[label_values for _ in names]), unique=True, min_size=1, max_size=4))
    with_created = draw(st.booleans())
    lines: list[str] = []
    created: list[str] = []

    def sample(sname, pairs, value=None):
        ts = draw(timestamps)
        v = render_value(draw(values) if value is None else value)
        lines.append(f"{sname}{render_labels(pairs)} {v}" + (f" {ts}" if ts is not None else ""))

    if kind.startswith("counter"):
        type_name = name + "_total" if kind == "counter_total" else name
        lines.append(f"# HELP {type_name} A counter.")
        lines.append(f"# TYPE {type_name} counter")
        sname = name if kind == "counter_legacy" else name + "_total"
        for vals in series:
            pairs = list(zip(names, vals))
            sample(sname, pairs)
            if with_created:
                created.append(f"{name}_created{render_labels(pairs)} 1.7e+09")
        if created and kind == "counter_total":  # prometheus_client's 0.0.4 form
            lines.append(f"# TYPE {name}_created gauge")
    elif kind in ("gauge", "untyped"):
        if typed:
            lines.append(f"# TYPE {name} {kind}")
        for vals in series:
            sample(name, list(zip(names, vals)))
    elif kind == "histogram":
        if typed:
            lines.append(f"# TYPE {name} histogram")
        bounds = sorted(set(draw(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=5))))
        for vals in series:
            pairs = list(zip(names, vals))
            for b in bounds + [math.inf]:
                sample(name + "_bucket", sorted(pairs + [("le", render_value(float(b)))]))
            sample(name + "_count", pairs)
            sample(name + "_sum", pairs)
            if with_created:
                created.append(f"{name}_created{render_labels(pairs)} 1.7e+09")
    else:  # summary
        if typed:
            lines.append(f"# TYPE {name} summary")
        qs = sorted(set(draw(st.lists(st.sampled_from(["0", "0.5", "0.9", "0.99", "1"]), min_size=1, max_size=3))))
        for vals in series:
            pairs = list(zip(names, vals))
            for q in qs:
                sample(name, pairs + [("quantile", q)])
            sample(name + "_sum", pairs)
            sample(name + "_count", pairs)
            if with_created and typed:
                created.append(f"{name}_created{render_labels(pairs)} 1.7e+09")
    return lines + created, len(created)


@st.composite
def expositions(draw):
    names = draw(st.lists(metric_names, unique=True, min_size=1, max_size=6))
    body: list[str] = []
    n_created = 0
    for n in names:
        lines, c = draw(families(n))
        body.extend(lines)
        n_created += c
    openmetrics = draw(st.booleans())
    return "\n".join(body) + ("\n# EOF\n" if openmetrics else "\n"), n_created


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expositions())
def test_differential_against_prometheus_client_on_generated_expositions(case):
    text, n_created = case
    expected = client_samples(text)
    expo, res = parse(text)
    assert res.problems == [], ([p.format() for p in res.problems[:3]], text)
    got = our_samples(expo)
    assert _same(expected, got), _explain(expected, got) + "\n" + text
    assert expo.samples == len(expected)
    assert expo.created_series == n_created
