"""The lmcache_http reader and the HttpEndpoints spec, on real LMCache 0.5.6 bodies."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferguard.engine.verdicts import judge
from inferguard.readers import lmcache_http as reader
from inferguard.spec.kinds import http_endpoints as he
from inferguard.spec.yamlload import load_all

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "lmcache" / "http-0.5.6-cpu" / "http"
REAL = ROOT / "fixtures" / "real" / "lmcache-0.5.6-cpu"  # copies of shared/data/real files
SPEC_FILE = ROOT / "specs" / "http" / "lmcache.yaml"


def _body_dirs() -> list[Path]:
    return [REAL / "run1" / "http", REAL / "run4" / "http"]


def _all_bodies() -> list[Path]:
    return [f for d in _body_dirs() for f in sorted(d.glob("*.body"))]


@pytest.fixture(scope="module")
def index():
    docs = load_all(SPEC_FILE.read_text(encoding="utf-8"))
    return he.compile(docs)


# --------------------------------------------------------------------------- spec


def test_spec_file_is_valid():
    from inferguard.spec.loader import schema_validator

    docs = load_all(SPEC_FILE.read_text(encoding="utf-8"))
    assert len(docs) == 1 and docs[0]["kind"] == "HttpEndpoints"
    v = schema_validator("spec.HttpEndpoints.v1.schema.json")
    assert [e.message for e in v.iter_errors(docs[0])] == []
    assert he.validate(docs[0], str(SPEC_FILE)) == []


def test_spec_loads_through_the_loader():
    from inferguard.spec import load_specs

    spec = load_specs([SPEC_FILE], strict=False)
    assert [p for p in spec.problems if "http" in (p.rule or "") or "HttpEndpoints" in p.message] == []
    idx = spec.compiled(he.COMPILED_KEY, he.compile)
    assert idx.route("mp.healthcheck").flag == "health"


def _doc(routes, extra=None):
    text = yaml.safe_dump({
        "apiVersion": "inferguard.dev/v1", "kind": "HttpEndpoints", "runtime": "lmcache",
        "releases": ["0.4.5", "0.5.6"],
        "servers": [{"id": "mp", "title": "t", "routes": routes}], **(extra or {}),
    })
    return load_all(text)[0]


def _route(**kw):
    base = {"id": "mp.x", "method": "GET", "path": "/x", "versions": ">=0.4.5", "policy": "safe"}
    base.update(kw)
    return base


def test_validate_duplicate_route_in_overlapping_versions():
    doc = _doc([_route(id="mp.a", versions=">=0.4.5,<0.5.2"), _route(id="mp.b", versions=">=0.5.0")])
    rules = [p.rule for p in he.validate(doc, "t.yaml")]
    assert "http_endpoints/duplicate-route" in rules
    doc = _doc([_route(id="mp.a", versions=">=0.4.5,<0.5.2"), _route(id="mp.b", versions=">=0.5.2")])
    assert he.validate(doc, "t.yaml") == []


def test_validate_flag_unique_per_version_range():
    doc = _doc([_route(id="mp.a", path="/a", flag="health"), _route(id="mp.b", path="/b", flag="health")])
    probs = he.validate(doc, "t.yaml")
    assert [p.rule for p in probs] == ["http_endpoints/duplicate-flag"]
    assert probs[0].line is not None
    doc = _doc([_route(id="mp.a", path="/a", flag="health", versions="<0.4.5"),
                _route(id="mp.b", path="/b", flag="health", versions=">=0.4.5")])
    assert he.validate(doc, "t.yaml") == []


def test_validate_policy_and_collect_rules():
    doc = _doc([
        _route(id="mp.a", path="/a", effect="mutates"),                       # must be destructive
        _route(id="mp.b", path="/b", method="POST", collect=True),            # collected but not GET
        _route(id="mp.c", path="/c/{x}", collect=True),                       # templated
        _route(id="mp.a", path="/d"),                                         # duplicate id
    ], {"redaction": {"secret_keys": ["("]}})
    rules = sorted(p.rule for p in he.validate(doc, "t.yaml"))
    assert rules == sorted([
        "http_endpoints/policy-effect", "http_endpoints/collect-not-get", "http_endpoints/collect-templated",
        "http_endpoints/duplicate-id", "http_endpoints/bad-regex",
    ])


def test_every_destructive_route_is_never_collected(index):
    for r in index.routes():
        if r.effect in he.STATE_CHANGING_EFFECTS:
            assert r.policy == "destructive", r.id
        if r.policy == "destructive":
            assert not r.collect, r.id
        if r.collect:
            assert r.method == "GET" and not r.templated, r.id
    names = {(r.method, r.path) for r in index.routes("mp") if r.policy == "destructive"}
    for must in [("POST", "/cache/clear"), ("DELETE", "/cache/objects"), ("POST", "/metrics/reset"),
                 ("POST", "/run_script"), ("PUT", "/quota/{cache_salt}"), ("DELETE", "/quota/{cache_salt}"),
                 ("POST", "/cache/prefetches"), ("POST", "/cache/checksums"), ("POST", "/api/clear-cache"),
                 ("POST", "/clear-cache"), ("GET", "/cache/prefetches/{request_id}"),
                 ("POST", "/reconfigure/{backend}/l2/{operation}")]:
        assert must in names, must
    sens = {r.path for r in index.routes("mp") if r.policy == "sensitive"}
    assert sens == {"/env", "/loglevel"}


def test_spec_covers_every_route_the_real_server_serves(index):
    openapi = next((f for f in _all_bodies() if f.name == "GET_openapi.json.body"), FIXTURE / "GET_openapi.json.body")
    paths = json.loads(openapi.read_text())["paths"]
    served = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    listed = {(r.method, r.path) for r in index.for_version("mp", "0.5.6")}
    assert served - listed == set()
    assert {p for m, p in listed - served} <= {"/openapi.json", "/docs"}


def test_version_ranges(index):
    vr = he.VersionRange.parse(">=0.4.5,<0.5.2")
    assert vr.contains("0.4.5") and vr.contains("0.5.0") and not vr.contains("0.5.2")
    assert vr.contains("0.5.1-gabc") and not vr.contains("0.4.3")
    assert he.VersionRange.parse("*").contains("9.9")
    assert he.parse_version("0.5.6-g3e11e108") == (0, 5, 6)
    assert he.VersionRange.parse("<0.4.5").overlaps(he.VersionRange.parse("<=0.4.5"))
    assert not he.VersionRange.parse("<0.4.5").overlaps(he.VersionRange.parse(">=0.4.5"))
    assert [r.path for r in index.by_flag("health")] == ["/api/healthcheck", "/healthcheck"]
    assert index.flag_route("health").path == "/healthcheck"
    assert index.flag_route("conf", "mp").path == "/conf"
    assert [r.path for r in index.for_version("mp", "0.4.3") if r.flag == "status"] == ["/api/status"]
    assert [r.path for r in index.for_version("mp", "0.5.0") if r.flag == "conf"] == ["/conf"]
    assert [r.path for r in index.for_version("mp", "0.5.6") if r.flag in ("conf", "config")] == ["/config"]


def test_file_names_map_to_routes(index):
    assert index.match_file_stem("GET_lmc_version") == ("GET", "/lmc_version")
    assert index.match_file_stem("GET_periodic-threads-health") == ("GET", "/periodic-threads-health")
    assert index.match_file_stem("GET_status_with_registered_kv") == ("GET", "/status")
    assert index.match_file_stem("GET_") == ("GET", "/")
    assert index.match_file_stem("GET_quota__default") == ("GET", "/quota/{cache_salt}")
    assert index.match_file_stem("GET_reconfigure_fs_l2_status") == ("GET", "/reconfigure/{backend}/l2/status")
    assert index.match_file_stem("GET_openapi.json") == ("GET", "/openapi.json")
    assert index.match_file_stem("not_a_capture") is None


def test_version_inference_from_404s(index):
    obs = [("GET", "/api/status", 404), ("GET", "/conf", 404), ("GET", "/clear-cache", 404),
           ("GET", "/healthcheck", 200)]
    assert index.infer_releases(obs) == ["0.5.2", "0.5.4", "0.5.5", "0.5.6"]
    assert index.infer_releases([("GET", "/api/healthcheck", 200)]) == ["0.3.15", "0.4.1", "0.4.3"]
    assert index.infer_releases([("GET", "/status", 200)], body_keys=[("mp.status", "kv_events")]) == ["0.5.6"]
    # a documented 404 (unknown thread name) says nothing about the version
    assert index.infer_releases([("GET", "/periodic-threads/nope", 404)]) == index.releases


# --------------------------------------------------------------------------- real bodies


@pytest.mark.parametrize("body", _all_bodies(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_real_body_parses(body):
    res = reader.read(str(body))
    assert res.records == 1
    ep = res.summary["endpoints"]
    assert len(ep) == 1
    # every capture maps to a spec route, or at least to a spec path (GET probe of a POST-only path)
    assert ep[0]["route"] is not None or ep[0]["path"] is not None, body.name
    assert ep[0]["outcome"] in ("ok", "not_found", "error", "unavailable")
    assert not [p for p in res.problems if "not JSON" in p.message]
    json.dumps(res.to_json())                              # serializable


@pytest.mark.parametrize("folder", _body_dirs(), ids=lambda p: p.parent.name if p != FIXTURE else "fixture")
def test_folder_summary(folder):
    res = judge(reader.read(str(folder)))
    s = res.summary
    assert res.problems == []
    assert s["server"] == "mp"
    assert s["health"]["state"] == "healthy"
    assert res.signals["health_ok"] == 1 and res.signals["health_unhealthy"] == 0
    assert s["version"]["value"] == "0.5.6"
    assert s["version"]["consistent_releases"] == ["0.5.6"]
    st_ = s["status"]
    assert st_["engine_type"] == "MPCacheServer" and st_["chunk_size"] == 16
    assert st_["hash_algorithm"] == "blake3"
    assert st_["l1"]["total_bytes"] > 0 and "used_bytes" in st_["l1"]
    assert "num_l2_adapters" in st_ and "registered_instances" in st_
    assert res.signals["endpoints_ok"] > 0


def test_run1_details():
    folder = REAL / "run1" / "http"
    res = reader.read(str(folder))
    s = res.summary
    assert s["version"] == {**s["version"], "value": "0.5.6", "full": "0.5.6-g3e11e108",
                            "commit_id": "g3e11e108", "source": "lmc_version"}
    # the three probes of removed paths are 404s: recorded, not fatal
    nf = sorted(e["path"] for e in s["endpoints"] if e["outcome"] == "not_found")
    assert nf == ["/api/status", "/clear-cache", "/conf"]
    assert all(e["http_status"] == 404 and e["status_inferred"] for e in s["endpoints"] if e["outcome"] == "not_found")
    assert res.signals["endpoints_not_found"] == 3
    assert s["openapi"]["routes"] == 32 and s["openapi"]["unlisted"] == [] and s["openapi"]["missing"] == []
    assert s["config"]["mp"]["engine_type"] == "default"
    assert s["config"]["storage_manager"]["l2_configured"] is False
    assert s["threads"]["total"] == 15
    assert s["periodic_threads_health"] == {"healthy": True, "unhealthy_count": 0, "unhealthy_threads": []}
    assert s["periodic_threads"]["total_count"] == 6
    errors = {e["path"] for e in s["endpoints"] if e["outcome"] == "error"}
    assert "/reconfigure/dax/l1/status" in errors and "/cache/objects" in errors


def test_status_with_registered_kv():
    f = REAL / "run4" / "http" / "GET_status_with_registered_kv.body"
    st_ = reader.read(str(f)).summary["status"]
    assert st_["registered_instances"] == 1 and st_["registered_ids"] == [1000]
    assert st_["models"] == [{
        "instance": "1000", "model_name": "test-model", "world_size": 1, "num_layers": 2, "num_blocks": 256,
        "cache_size_per_token": 1024, "kernel_groups": 1, "engine_kv_formats": ["NL_X_TWO_NB_BS_NH_HS"],
        "is_mla": False,
    }]
    assert st_["num_l2_adapters"] == 1
    assert st_["l2_adapters"] == [{"type": "FSL2Adapter", "is_healthy": True}]
    assert st_["l1"]["used_bytes"] == 245760 and st_["l1"]["total_bytes"] == 53687091
    assert st_["l1"]["object_count"] == 15
    assert st_["kv_events"]["log_depth"] == 15
    assert "base_path" not in json.dumps(st_)        # adapter paths are not copied into evidence


# --------------------------------------------------------------------------- error answers


def test_unhealthy_503_is_recorded_not_fatal():
    bodies = [
        reader.Body(b'{"status":"unhealthy","reason":"engine not initialized"}', path="/healthcheck",
                    route_id="mp.healthcheck", source="live", http_status=503),
        reader.Body(b'{"error":"engine not initialized"}', path="/status", route_id="mp.status",
                    source="live", http_status=503),
        reader.Body(b'"0.5.6"', path="/lmc_version", route_id="mp.lmc_version", source="live", http_status=200),
    ]
    res = judge(reader.read_bodies(bodies))
    s = res.summary
    assert s["health"]["state"] == "unhealthy"
    assert "engine not initialized" in s["health"]["reasons"][0]
    assert res.signals["health_unhealthy"] == 1 and res.signals["health_ok"] == 0
    assert res.signals["endpoints_unavailable"] == 2
    assert s["version"]["value"] == "0.5.6"
    assert "status" not in s


def test_saved_unhealthy_body_without_status_line():
    res = judge(reader.read_bodies([reader.Body(b'{"status":"unhealthy","reason":"x"}', flag="health")]))
    assert res.summary["health"]["state"] == "unhealthy"
    assert res.summary["endpoints"][0]["http_status"] == 503
    assert res.summary["endpoints"][0]["status_inferred"] is True


def test_transport_error_recorded():
    res = judge(reader.read_bodies([reader.Body(b"", path="/healthcheck", route_id="mp.healthcheck", source="live",
                                                error="connection refused")]))
    assert res.signals["endpoints_transport_error"] == 1
    assert res.summary["health"]["state"] == "unknown"


@pytest.mark.parametrize("raw,value", [(b'"0.5.6"', "0.5.6"), (b'"0.5.10"', "0.5.10"), (b'"0.4.5"\n', "0.4.5"),
                                       (b"0.5.6", "0.5.6")])
def test_version_string_kept(raw, value):
    res = reader.read_bodies([reader.Body(raw, flag="lmc-version")])
    assert res.summary["version"]["value"] == value
    assert isinstance(res.summary["version"]["value"], str)


def test_full_version_only():
    res = reader.read_bodies([reader.Body(b'"0.5.6-g3e11e108"', flag="version")])
    v = res.summary["version"]
    assert v["value"] == "0.5.6" and v["full"] == "0.5.6-g3e11e108" and v["source"] == "version"


def test_version_from_routes_only():
    bodies = [reader.Body(b'{"detail":"Not Found"}', path=p, source="live", http_status=404)
              for p in ("/api/status", "/conf", "/l2/adapters", "/lmc_version", "/version")]
    bodies = [b for b in bodies if b.path not in ("/lmc_version", "/version")]
    bodies.append(reader.Body(b'{"status":"healthy"}', path="/healthcheck", source="live", http_status=200))
    res = reader.read_bodies(bodies)
    v = res.summary["version"]
    assert v["source"] == "routes" and v["range"] == "0.5.2 .. 0.5.6"
    assert res.signals["version_inferred"] == 1 and "version" not in res.signals


def test_unparsed_json_is_a_problem_not_a_crash():
    res = reader.read_bodies([reader.Body(b"<html>oops</html>", flag="status")])
    assert res.signals["bodies_unparsed"] == 1
    assert len(res.problems) == 1


# --------------------------------------------------------------------------- redaction


def test_redaction_secret_keys_and_url_passwords(index):
    body = json.dumps({"storage_manager": {"l2_adapter_config": {"adapters": [
        {"type": "redis", "url": "redis://svc:hunter2pw@10.0.0.1:6379", "password": "s3cr3t", "api_key": "k-123"}]}},
        "observability": {"otlp_endpoint": "http://collector:4317"}}).encode()
    out, n = reader.redact_body(body, "json", "secret_keys", index)
    text = out.decode()
    assert n == 3
    for secret in ("hunter2pw", "s3cr3t", "k-123"):
        assert secret not in text
    assert "http://collector:4317" in text and "redis://svc:<redacted>@10.0.0.1:6379" in text


def test_redaction_values_keeps_only_names(index):
    body = b'{"HOME": "/root", "HF_TOKEN": "hf_abc", "PATH": "/usr/bin"}'
    out, n = reader.redact_body(body, "json", "values", index)
    assert n == 3 and b"hf_abc" not in out and b"/usr/bin" not in out and b"HF_TOKEN" in out
    res = reader.read_bodies([reader.Body(out, path="/env", route_id="mp.env", source="live", http_status=200,
                                          redacted=n)])
    assert res.summary["env"] == {"variables": 3}
    assert res.signals["sensitive_redacted"] == 3


# --------------------------------------------------------------------------- robustness

_ROUTE_IDS = [
    "mp.root", "mp.openapi", "mp.healthcheck", "mp.api_healthcheck", "mp.status", "mp.version", "mp.lmc_version",
    "mp.commit_id", "mp.config", "mp.conf", "mp.config_adapters", "mp.quota", "mp.threads", "mp.periodic_threads",
    "mp.periodic_threads_health", "mp.metrics", "mp.env", "mp.loglevel", "mp.cache_clear", None,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), route=st.sampled_from(_ROUTE_IDS),
       code=st.sampled_from([None, 200, 404, 409, 500, 503]), flag=st.sampled_from([None, "status", "health"]))
def test_arbitrary_bytes_never_raise(data, route, code, flag):
    res = judge(reader.read_bodies([reader.Body(data, route_id=route, http_status=code, flag=flag if route is None else None)]))
    assert res.records == 1 and res.summary["health"]["state"] in ("healthy", "unhealthy", "unknown")
    json.dumps(res.to_json())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["is_healthy", "storage_manager", "l1_usage", "l1_managers", "registered_gpu_ids",
                         "cache_context_meta", "status", "users", "summary", "threads", "paths", "mp",
                         "observability", "adapters", "healthy", "x"]), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, route=st.sampled_from(_ROUTE_IDS))
def test_arbitrary_json_shapes_never_raise(value, route):
    data = json.dumps(value).encode()
    res = judge(reader.read_bodies([reader.Body(data, route_id=route, http_status=200)]))
    json.dumps(res.to_json())


def test_deeply_nested_json_does_not_raise():
    data = b"[" * 100000 + b"]" * 100000
    res = reader.read_bodies([reader.Body(data, flag="status")])
    assert res.records == 1


def test_answers_matching_no_release_are_a_problem():
    bodies = [reader.Body(b'{"detail":"Not Found"}', path="/version", source="live", http_status=404),
              reader.Body(b'{"status":"healthy"}', path="/healthcheck", source="live", http_status=200)]
    res = reader.read_bodies(bodies)
    assert res.summary["version"]["inconsistent"] is True
    assert len(res.problems) == 1
