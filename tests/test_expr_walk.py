"""The spec expression walker (inferguard.spec.expr.walk) gives jmespath's results.

Commands evaluate the specs' `when` / `applies_when` / `required_when` expressions from
their parse trees without importing jmespath; anything the walker does not cover is handed
to jmespath. Every expression of the bundled specs is evaluated here both ways over many
generated documents, and must give the same value or the same error.
"""
from __future__ import annotations

import random

import pytest

from inferguard.spec.expr import _Unsupported, compile_expr, search, walk

EXPR_KEYS = {"required_when", "applies_when", "when", "reason", "path"}
POOL = [None, True, False, 0, 1, 0.0, 1.0, 2, -1, "", "vllm", "sglang", "mp", "both", "embedded", "none", "auto",
        [], ["vllm"], ["mp", "both"], [0], [True], {}, {"x": 1}]


class _NoMemo:
    """A spec set without a cache entry: memo computes every time."""

    @staticmethod
    def memo(name, arg, fn):
        return fn(arg)


def _spec_expressions() -> list[str]:
    from inferguard.spec import default_specs

    spec = default_specs()
    found: set[str] = set()

    def visit(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, k)
        elif isinstance(node, list):
            for v in node:
                visit(v, key)
        elif isinstance(node, str) and key in EXPR_KEYS:
            try:
                compile_expr(node)
            except ValueError:
                return  # a file path or a message, not an expression
            found.add(node)

    for docs in spec.docs_by_kind.values():
        for d in docs:
            visit(d.data)
    return sorted(found)


EXPRESSIONS = _spec_expressions()


def _fields(tree, out: set[str]) -> set[str]:
    if tree.get("type") == "field":
        out.add(tree["value"])
    for child in tree.get("children", ()):
        if isinstance(child, dict):
            _fields(child, out)
    return out


def _document(rng: random.Random, names: list[str], depth: int):
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(POOL)
    return {n: _document(rng, names, depth - 1) for n in names if rng.random() < 0.7}


def _outcome(fn):
    try:
        return ("value", fn())
    except Exception as exc:  # noqa: BLE001 - the error's kind is what is compared
        return ("error", type(exc).__name__)


def test_the_bundled_specs_have_expressions_to_check():
    assert len(EXPRESSIONS) >= 20
    assert any("contains(" in e for e in EXPRESSIONS) and any("||" in e for e in EXPRESSIONS)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_walker_and_jmespath_agree(text):
    rng = random.Random(text)
    tree = compile_expr(text).parsed
    names = sorted(_fields(tree, set())) + ["other"]
    for _ in range(80):
        doc = _document(rng, names, 4)
        want = _outcome(lambda: compile_expr(text).search(doc))
        got = _outcome(lambda: search(text, doc, spec=_NoMemo))
        assert got == want, (text, doc)


def test_the_expressions_on_every_command_s_path_need_no_jmespath():
    """Applicability, family and row conditions are walked whole on real-shaped data."""
    from inferguard.spec import default_specs
    from inferguard.spec.registry import bundled, context_defaults

    spec = default_specs()
    data = {"context": context_defaults(bundled()),
            "detected": {"engines": ["vllm"], "lmcache_mode": "mp", "lmcache_present": True}}
    texts = [r["when"] for d in spec.docs("Detection") for r in d["applicability"]]
    texts += [f["required_when"] for d in spec.docs("MetricFamilies") for f in d["families"] if f.get("required_when")]
    for d in spec.docs("Surfaces"):
        for row in d["rows"]:
            texts += [row["applies_when"]] if row.get("applies_when") else []
            texts += [q["required_when"] for q in row["requires"] if q.get("required_when")]
    assert len(texts) >= 20
    for text in texts:
        try:
            walk(compile_expr(text).parsed, data)
        except _Unsupported as exc:
            pytest.fail(f"{text}: {exc!r} is left to jmespath")


@pytest.mark.parametrize("text,doc", [
    ("!a", {"a": 0}), ("!a", {"a": 0.0}), ("!a", {"a": []}), ("!a", {"a": "x"}), ("!a", {}),
    ("a == `1`", {"a": True}), ("a == `0`", {"a": False}), ("a != `1`", {"a": True}), ("a == `2`", {"a": 2.0}),
    ("a == b", {"a": [1], "b": [1]}), ("a == b", {"a": {"k": 1}, "b": {"k": 1}}),
    ("a || b", {"a": [], "b": 0}), ("a || b", {"a": {}, "b": ""}), ("a && b", {"a": 0, "b": "x"}),
    ("a && b", {"a": "", "b": "x"}), ("contains(a, 'x')", {"a": None}), ("contains(a, `1`)", {"a": "abc"}),
    ("contains(a, 'b')", {"a": "abc"}), ("contains(a, `true`)", {"a": [1]}), ("contains(['mp', 'both'], m)", {"m": "mp"}),
    ("contains(['mp', 'both'], m)", None), ("a.b.c", {"a": {"b": "str"}}), ("a.b", {"a": [1]}),
    ("a > `1`", {"a": 2}), ("length(a) > `0`", {"a": [1]}),
])
def test_edge_cases_agree(text, doc):
    want = _outcome(lambda: compile_expr(text).search(doc))
    assert _outcome(lambda: search(text, doc, spec=_NoMemo)) == want
