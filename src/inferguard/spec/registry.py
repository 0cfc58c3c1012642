"""The compiled vocabulary: runtimes, LMCache modes, the checks of findings and the --fail-on
aliases, context keys, lanes, HTTP body flags and the packet file roles, from the Vocabulary, SpecSet and HttpEndpoints documents.

One registry serves the command line (its options), the packet classifier, collect-lmcache
and `specs lint`. The bundled spec set's registry is also stored, compiled, as
`inferguard/_data/registry.json` (written by `inferguard docs build`, checked by
`docs build --check` and the tests), so that the command line can declare its options from
it without parsing YAML: `inferguard --help` reads one small JSON file.
"""
from __future__ import annotations

import json
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

COMPILED_KEY = "registry"
REGISTRY_FILE = "registry.json"


def compile_registry(spec) -> dict[str, Any]:
    """The registry of a loaded spec set, as plain JSON-serializable data."""
    vocab = (spec.docs("Vocabulary") or [{}])[0]
    lanes = []
    for lane in vocab.get("lanes", []):
        lanes.append({
            "id": lane["id"],
            "title": lane["title"],
            "reader": lane["reader"],
            "evidence_file": lane["evidence_file"],
            "evidence_flag": lane["evidence_flag"],
            "always_written": bool(lane.get("always_written", False)),
            "collect_inputs": [dict(ci, directory=bool(ci.get("directory", False))) for ci in lane.get("collect_inputs", [])],
            "single_view": bool(lane.get("single_view", False)),
            "packet_patterns": list(lane["packet_patterns"]),
            "signals": list(lane["signals"]),
            "signal_patterns": list(lane.get("signal_patterns", [])),
            "signals_from_log_patterns": bool(lane.get("signals_from_log_patterns", False)),
        })
    context = []
    for c in vocab.get("context", []):
        context.append({
            "key": c["key"], "type": c["type"], "values": c.get("values"), "default": c["default"],
            "flag": c.get("flag"), "flags_by_command": dict(c.get("flags_by_command", {})),
            "implies": list(c.get("implies", [])), "commands": list(c.get("commands", [])), "help": c["help"],
        })
    flags: dict[str, None] = {}  # in the order the spec first names them
    for doc in spec.docs("HttpEndpoints"):
        for server in doc.get("servers", []):
            for route in server.get("routes", []):
                if route.get("flag"):
                    flags.setdefault(route["flag"], None)
    roles = []
    for doc in spec.docs("SpecSet"):
        for rule in doc.get("packet_files", []):
            roles.append({"role": rule["role"], "reader": rule.get("reader"), "patterns": list(rule["patterns"]),
                          "single_view": bool(rule.get("single_view", False))})
    context_role = [r for r in roles if r["role"] == "context"]
    roles = [r for r in roles if r["role"] != "context"]
    roles += [{"role": lane["id"], "reader": "lane", "patterns": lane["packet_patterns"], "single_view": lane["single_view"]}
              for lane in lanes]
    roles += context_role
    return {
        "runtimes": [dict(r) for r in vocab.get("runtimes", [])],
        "lmcache_modes": [dict(m) for m in vocab.get("lmcache_modes", [])],
        "checks": [{**c, "match": dict(c["match"]) if "match" in c else None} for c in vocab.get("checks", [])],
        "fail_on": [dict(p) for p in vocab.get("fail_on", [])],
        "context": context,
        "lanes": lanes,
        "http_body_flags": list(flags),
        "packet_roles": roles,
        # collect-metrics: timeline groups and default window quantiles
        "window": dict(vocab.get("window") or {"groups": [], "histogram_quantiles": [], "gauge_quantiles": []}),
    }


def registry_of(spec) -> dict[str, Any]:
    """The registry of `spec`, compiled once per spec set."""
    if hasattr(spec, "compiled"):
        return spec.compiled(COMPILED_KEY, compile_registry)
    return compile_registry(spec)


def bundled_path() -> str:
    import os

    from inferguard._data import data_path

    return os.path.join(data_path(), REGISTRY_FILE)


@lru_cache(maxsize=1)
def bundled() -> dict[str, Any]:
    """The registry of the bundled spec set, from its compiled JSON (no YAML parsing)."""
    with open(bundled_path(), encoding="utf-8") as fh:
        return json.load(fh)


def render(registry: dict[str, Any]) -> str:
    return json.dumps(registry, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- lookups


def context_defaults(registry: dict[str, Any]) -> dict[str, Any]:
    return {c["key"]: c["default"] for c in registry["context"]}


def lane_ids(registry: dict[str, Any]) -> list[str]:
    return [lane["id"] for lane in registry["lanes"]]


def lane(registry: dict[str, Any], lane_id: str) -> dict[str, Any] | None:
    return next((ln for ln in registry["lanes"] if ln["id"] == lane_id), None)


def lane_readers(registry: dict[str, Any]) -> dict[str, str]:
    return {ln["id"]: ln["reader"] for ln in registry["lanes"]}


def flag_dest(flag: str) -> str:
    """The Python name click gives an option: --lmcache-log-file -> lmcache_log_file."""
    return flag.lstrip("-").replace("-", "_")
