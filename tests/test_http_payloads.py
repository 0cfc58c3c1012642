"""What the lmcache_http reader keeps of each body is data (the `payloads` of the
HttpEndpoints spec), interpreted by inferguard.readers.payload; `specs lint` checks it."""
from __future__ import annotations

import json
import re

import yaml

from conftest import ROOT, run_cli
from inferguard.readers import lmcache_http as reader
from inferguard.readers.payload import summarize
from inferguard.spec.kinds import http_endpoints as he
from inferguard.spec.yamlload import load_all

SPEC = ROOT / "specs" / "http" / "lmcache.yaml"


def _doc(routes, payloads=None):
    text = yaml.safe_dump({
        "apiVersion": "inferguard.dev/v1", "kind": "HttpEndpoints", "runtime": "lmcache",
        "releases": ["0.5.6"], "servers": [{"id": "mp", "title": "t", "routes": routes}],
        **({"payloads": payloads} if payloads is not None else {}),
    })
    return load_all(text)[0]


def _route(id, path, reads_as):
    return {"id": id, "method": "GET", "path": path, "versions": ">=0.4.5", "policy": "safe", "reads_as": reads_as}


def test_derivations_named_by_the_schema_are_the_readers():
    schema = json.loads((ROOT / "schemas" / "spec.HttpEndpoints.v1.schema.json").read_text())
    ops = schema["$defs"]["payload_fields"]["items"]["oneOf"]
    derive = next(o for o in ops if "derive" in o["required"])
    assert set(derive["properties"]["derive"]["enum"]) == set(reader.DERIVATIONS)


def test_every_summarized_kind_of_body_has_a_payload():
    index = he.load_index()
    kinds = {r.reads_as for r in index.routes()} - he.READ_BY_READER - he.NOT_SUMMARIZED
    assert kinds and kinds <= set(index.payloads)
    assert he.validate(load_all(SPEC.read_text())[0], str(SPEC)) == []


def test_lint_rules_on_payloads():
    routes = [_route("mp.q", "/quota", "quota"), _route("mp.t", "/threads", "threads")]
    quota = {"reads_as": "quota", "summary": "quota", "fields": [{"key": "salts", "count": "users", "of": "object"}]}
    rules = sorted(p.rule for p in he.validate(_doc(routes, [quota, dict(quota)]), "t.yaml"))
    assert rules == ["http_endpoints/duplicate-payload", "http_endpoints/missing-payload"]
    health = {"reads_as": "health", "summary": "h", "fields": []}
    env = {"reads_as": "env", "summary": "env", "fields": [{"derive": "env_variables"}]}
    threads = {"reads_as": "threads", "summary": "threads", "fields": [{"derive": "threads_text"}]}
    probs = he.validate(_doc(routes, [quota, threads, health, env]), "t.yaml")
    assert sorted(p.rule for p in probs) == ["http_endpoints/payload-unused", "http_endpoints/payload-unused"]
    assert all(p.line is not None for p in probs)
    # a document without payloads (routes split from payloads) is not asked for them
    assert he.validate(_doc(routes), "t.yaml") == []


def test_specs_lint_names_a_payload_defect_with_its_line(tmp_path):
    text = SPEC.read_text()
    bad = tmp_path / "lmcache.yaml"
    # a derivation the reader does not have: refused by the schema, at its line
    bad.write_text(text.replace("{derive: threads_text}", "{derive: thread_text}", 1))
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if "thread_text" in s)
    proc = run_cli("specs", "lint", str(bad))
    assert proc.returncode == 2, proc.stdout
    assert re.search(rf"lmcache\.yaml:{line}:\d+: spec/schema: \$\.payloads\[\d+\]\.fields\[0\]", proc.stdout), proc.stdout
    # the quota payload gone: the first route read as quota is named
    broken = re.sub(r"  - reads_as: quota\n(    .*\n)+?(?=  - reads_as: threads\n)", "", text, count=1)
    assert broken.count("reads_as: quota") == text.count("reads_as: quota") - 1
    bad.write_text(broken)
    line = next(i for i, s in enumerate(broken.splitlines(), 1) if "reads_as: quota" in s)
    proc = run_cli("specs", "lint", str(bad))
    assert proc.returncode == 2, proc.stdout
    assert re.search(rf"lmcache\.yaml:{line}:\d+: http_endpoints/missing-payload: routes read as 'quota'", proc.stdout), proc.stdout


def test_payload_operations_keep_only_declared_types():
    payload = {"reads_as": "quota", "summary": "q", "otherwise": "shape", "variants": [
        {"when": {"object": "users"}, "fields": [
            {"key": "salts", "count": "users", "of": "object"},
            {"key": "default_salt", "has": "_default", "at": "users"},
            {"key": "limit_gb_total", "sum": "users", "field": "limit_gb", "round": 2}]},
        {"when": {"key": "cache_salt"}, "fields": [
            {"key": "salts", "lookup": "exists", "map": {"false": 0}, "default": 1},
            {"key": "limit_gb_total", "copy": "limit_gb", "types": ["number"], "nullable": True}]},
        {"fields": [{"key": "keys", "count": "", "of": "object"}]}]}
    users = {"users": {"_default": {"limit_gb": 1.004}, "a": {"limit_gb": True}, "b": {"limit_gb": 2}, "c": 3}}
    assert summarize(payload, users, "", {}) == {"salts": 4, "default_salt": True, "limit_gb_total": 3.0}
    assert summarize(payload, {"cache_salt": "a", "exists": False, "limit_gb": "1"}, "", {}) == \
        {"salts": 0, "limit_gb_total": None}
    assert summarize(payload, {"cache_salt": "a", "exists": 0, "limit_gb": 5}, "", {}) == {"salts": 1, "limit_gb_total": 5}
    assert summarize(payload, {"x": 1, "y": 2}, "", {}) == {"keys": 2}
    assert summarize(payload, [1, 2], "", {}) == {"shape": "list"}
    each = {"reads_as": "x", "summary": "x", "when": {"list": "t"}, "fields": [
        {"key": "names", "each": "t", "head": 3, "value": "name", "types": ["str"]},
        {"key": "ids", "each": "t", "types": ["int"], "max": 1},
        {"key": "first", "copy": ["a", "b"], "types": ["str"]},
        {"key": "nested", "object": "o", "omit_empty": True, "fields": [{"key": "on", "truthy": "u", "if_key": "u"}]}]}
    body = {"t": [{"name": "a"}, {"name": 1}, 7, {"name": "late"}, 8], "a": "", "b": "second", "o": {}}
    assert summarize(each, body, "", {}) == {"names": ["a"], "ids": [7], "first": "second"}
    assert summarize(each, {"t": 1}, "", {}) is None
