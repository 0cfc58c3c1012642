"""Facts for the generated coverage matrix: run every fixture named in the specs through
the real pipeline, see which readers and commands exist, then let the engine compute
capability, lane states and the score. `specs test` and `docs build` both use this."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from inferguard.engine.capability import FixtureResult, checklist, item_key, row_capability
from inferguard.engine.vocab import MEASURED, PRESENT_ZERO
from inferguard.problems import InputError

PROMETHEUS = "prometheus"


def readers_available() -> dict[str, bool]:
    """Every reader of the registry, imported. An import failure is a broken install or a
    defect and propagates: the generated matrix never depends on which libraries import."""
    from inferguard.readers import LANE_READERS, lane_reader, prometheus

    out = {PROMETHEUS: callable(prometheus.read)}
    for lane in LANE_READERS:
        out[lane] = lane_reader(lane) is not None
    return out


def _origin(fixture_dir: Path) -> str | None:
    import yaml

    from inferguard.spec.yamlload import safe_load

    prov = fixture_dir / "PROVENANCE.yaml"
    if not prov.is_file():
        return None
    try:
        data = safe_load(prov.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return None
    origin = data.get("origin") if isinstance(data, dict) else None
    return origin if origin in ("live", "real_capture", "derived", "synthetic") else None


def run_fixtures(spec, root: Path, only_rows: set[str] | None = None) -> list[FixtureResult]:
    from inferguard.packet_eval import evaluate_packet

    cache: dict[tuple[str, str], Any] = {}
    results = []
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            if only_rows and row["id"] not in only_rows:
                continue
            for fx in row.get("fixtures", []):
                d = root / fx["path"]
                ctx = dict(fx.get("context") or {})
                res = FixtureResult(row["id"], fx["path"], d.is_dir(), _origin(d) if d.is_dir() else None,
                                    fx["expect"]["status"], None, dict(fx["expect"].get("items", {})))
                if d.is_dir():
                    key = (str(d), repr(sorted(ctx.items())))
                    try:
                        if key not in cache:
                            cache[key] = evaluate_packet(str(d), spec, ctx)
                        rep = cache[key]
                    except InputError as exc:
                        res.error = str(exc)
                    else:
                        got = next((r for r in rep["surfaces"] if r["id"] == row["id"]), None)
                        res.got_status = got["status"] if got else None
                        if got:
                            res.got_items = {item_key(i): i["status"] for i in got["items"]}
                        res.families_present = [f["id"] for f in rep["families"] if f["status"] in (MEASURED, PRESENT_ZERO)]
                        res.families_measured = [f["id"] for f in rep["families"] if f["status"] == MEASURED]
                results.append(res)
    return results


def _command_states(root: Path) -> dict[str, str]:
    """command -> missing | parser_only (exists) | fixture_backed (exists and a test runs it)."""
    import click

    from inferguard.cli import main

    names: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in group.commands.items():
            full = f"{prefix}{name}"
            names[full] = cmd
            if isinstance(cmd, click.Group):
                walk(cmd, full + " ")

    walk(main, "")
    tests_text = ""
    tests = root / "tests"
    if tests.is_dir():
        tests_text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(tests.glob("test_*.py")))
    out = {}
    for name in names:
        words = name.split()
        pattern = r'"' + r'",\s*"'.join(map(re.escape, words)) + r'"'
        out[name] = "fixture_backed" if re.search(pattern, tests_text) else "parser_only"
    return out


def build_matrix(spec, root: Path) -> dict[str, Any]:
    readers = readers_available()
    results = run_fixtures(spec, root)
    rows_out = []
    caps: dict[str, dict[str, Any]] = {}
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            mine = [r for r in results if r.row == row["id"]]
            cap = row_capability(row, mine, readers)
            caps[row["id"]] = cap
            rows_out.append({"row": row, "capability": cap, "fixtures": mine})
    from inferguard.spec.kinds.http_endpoints import compile as compile_endpoints

    destructive = any(r.policy == "destructive" for r in compile_endpoints(spec).routes()) if spec.docs("HttpEndpoints") else False
    from inferguard.readers import lane_reader

    import inferguard.collect.lmcache  # noqa: F401 - the collector that keeps the guard; must import

    guarded = destructive and lane_reader("lmcache_http") is not None
    cl_docs = spec.docs("Checklist")
    cl = checklist(cl_docs[0], caps, results, readers, _command_states(root), guarded) if cl_docs else None
    return {"rows": rows_out, "results": results, "checklist": cl, "readers": readers}



def fixture_inventory(root: Path) -> list[dict[str, Any]]:
    """Every fixture folder (one holding a PROVENANCE.yaml) and which tests name it."""
    tests_dir = root / "tests"
    test_files = sorted(tests_dir.glob("test_*.py")) if tests_dir.is_dir() else []
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in test_files}
    out = []
    fx_root = root / "fixtures"
    if not fx_root.is_dir():
        return out
    for prov in sorted(fx_root.rglob("PROVENANCE.yaml")):
        d = prov.parent
        rel = d.relative_to(root).as_posix()
        tail = d.relative_to(fx_root).as_posix()
        named = sorted(name for name, text in texts.items() if rel in text or f'"{tail}"' in text or f"'{tail}'" in text
                       or ("/ \"" + "\" / \"".join(tail.split("/")) + "\"") in text)
        out.append({"path": rel, "origin": _origin(d) or "unknown", "tests": named})
    return out
