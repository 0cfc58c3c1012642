"""Facts for the generated coverage matrix: run every fixture named in the specs through
the real pipeline, see which readers and commands exist, then let the engine compute
capability, lane states and the score. `specs test` and `docs build` both use this."""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from inferguard.engine.capability import FixtureResult, checklist, item_key, row_capability
from inferguard.engine.vocab import MEASURED, PRESENT_ZERO
from inferguard.core.problems import InputError
from inferguard.core.provenance import fixture_origin

PROMETHEUS = "prometheus"


def readers_available() -> dict[str, bool]:
    """Every reader of the registry, imported. An import failure is a broken install or a
    defect and propagates: the generated matrix never depends on which libraries import."""
    from inferguard.readers import LANE_READERS, lane_reader, prometheus

    out = {PROMETHEUS: callable(prometheus.read)}
    for lane in LANE_READERS:
        out[lane] = lane_reader(lane) is not None
    return out


def run_fixtures(spec, root: Path, only_rows: set[str] | None = None) -> list[FixtureResult]:
    from inferguard.flow.packet import evaluate_packet

    cache: dict[tuple[str, str], Any] = {}
    results = []
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            if only_rows and row["id"] not in only_rows:
                continue
            for fx in row.get("fixtures", []):
                d = root / fx["path"]
                ctx = dict(fx.get("context") or {})
                res = FixtureResult(row["id"], fx["path"], d.is_dir(), fixture_origin(d) if d.is_dir() else None,
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


def _command_states(spec, root: Path, main, results: list, inline: list, replays: list | None = None,
                    diagnosis: list | None = None) -> dict[str, str]:
    """command -> missing | parser_only | fixture_backed | live_validated, from what `specs test`
    and `docs build` ran, never from reading the test files: a command that exists is
    parser_only until the proof its Checklist item names (`proven_by`) holds, and
    live_validated when, besides, a live replay that ran it passed every declared command. `main` is the command line's click
    group, handed in by the caller (this module does not import the CLI)."""
    import json

    from inferguard.spec.semantic import check_fixture_paths, check_next_commands

    from inferguard.flow.replay import command_names

    names = command_names(main)

    def collected_by(fixture: str) -> str | None:
        mf = root / fixture / "packet_manifest.json"
        try:
            doc = json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else None
        except (OSError, ValueError):
            return None
        if isinstance(doc, dict) and doc.get("state") == "complete":
            return doc.get("command")
        return None

    diagnosis = list(diagnosis or [])
    cases = list(results) + list(inline) + diagnosis
    replays = list(replays or [])
    replayed = {c.command for rp in replays if rp.validated for c in rp.commands}
    diag_real = [r for r in diagnosis if r.kind == "fixture" and fixture_origin(root / r.name) in ("live", "real_capture")]
    proofs = {
        # every DiagnosisRules case passes, and at least one real or live fixture folder is among them
        "diagnosis_fixtures": lambda cmd: bool(diag_real) and all(r.passed for r in diagnosis),
        "fixture_folders": lambda cmd: any(r.passed for r in results),
        "inline_tests": lambda cmd: any(r.passed for r in inline),
        "collected_fixture": lambda cmd: any(r.passed and collected_by(r.path) == cmd for r in results),
        # the command collected (or judged) a live capture served from loopback, and the replay passed
        "live_replay": lambda cmd: cmd in replayed,
        # a replay that failed is a failing spec test; a pending one (a command this build
        # lacks) is not a failure, and never a pass either (see engine/capability.py)
        "all_spec_tests": lambda cmd: bool(cases) and all(r.passed for r in cases) and not any(r.failed for r in replays),
        "clean_lint": lambda cmd: not spec.problems and not check_fixture_paths(spec, root)
        and not check_next_commands(spec, main),
    }
    out: dict[str, str] = {}
    for doc in spec.docs("Checklist"):
        for section in ("lanes", "closeout"):
            for lane in doc[section]:
                for item in lane["items"]:
                    cmd = item.get("command")
                    if cmd is None:
                        continue
                    if cmd not in names:
                        out[cmd] = "missing"
                    elif item.get("proven_by") and proofs[item["proven_by"]](cmd):
                        # its proof holds, and a live capture replayed through every declared
                        # command (this one among them) passed: live_validated
                        out[cmd] = "live_validated" if cmd in replayed else "fixture_backed"
                    else:
                        out[cmd] = "parser_only"
    return out


def build_matrix(spec, root: Path, cli_group) -> dict[str, Any]:
    """The matrix facts; `cli_group` is the inferguard click group (which commands exist)."""
    from inferguard.flow.replay import run_live_replays

    readers = readers_available()
    results = run_fixtures(spec, root)
    replays = run_live_replays(spec, root, cli_group)
    live_replayed = frozenset(r.path for r in replays if r.validated)
    rows_out = []
    caps: dict[str, dict[str, Any]] = {}
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            mine = [r for r in results if r.row == row["id"]]
            cap = row_capability(row, mine, readers, live_replayed)
            caps[row["id"]] = cap
            rows_out.append({"row": row, "capability": cap, "fixtures": mine})
    from inferguard.spec.kinds.http_endpoints import compile as compile_endpoints

    destructive = any(r.policy == "destructive" for r in compile_endpoints(spec).routes()) if spec.docs("HttpEndpoints") else False
    from inferguard.readers import lane_reader

    import inferguard.collect.lmcache  # noqa: F401 - the collector that keeps the guard; must import

    guarded = destructive and lane_reader("lmcache_http") is not None
    cl_docs = spec.docs("Checklist")
    inline = run_inline_tests(spec)
    from inferguard.flow.diagnosis import run_diagnosis_tests

    commands = _command_states(spec, root, cli_group, results, inline, replays, run_diagnosis_tests(spec, root))
    cl = checklist(cl_docs[0], caps, results, readers, commands, guarded, live_replayed) if cl_docs else None
    return {"rows": rows_out, "results": results, "checklist": cl, "readers": readers, "replays": replays}



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
        out.append({"path": rel, "origin": fixture_origin(d) or "unknown", "tests": named})
    return out


# --------------------------------------------------------------------------- inline spec tests


def expand_values(text: str) -> list[float | None]:
    """promtool's expanding notation: `1 2 _ 3+2x3 10-1x2 4x2` -> the values in order
    (`_` is a missing sample, `a+bxn` is a, a+b, ..., a+nb, `axn` repeats a n+1 times)."""
    import re

    out: list[float | None] = []
    for tok in text.split():
        if tok == "_":
            out.append(None)
            continue
        m = re.fullmatch(r"(_|[-+]?[0-9.eE]+)(?:([+-])([0-9.eE]+))?x([0-9]+)", tok)
        if m:
            n = int(m.group(4))
            if m.group(1) == "_":
                out.extend([None] * (n + 1))
                continue
            a = float(m.group(1))
            step = float(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
            out.extend(a + step * i for i in range(n + 1))
            continue
        out.append(float(tok))  # ValueError on a bad token: reported by the runner
    return out


@dataclass
class InlineResult:
    """One inline test of one row, run through the real pipeline."""

    row: str
    name: str
    failures: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def path(self) -> str:
        return f"(inline) {self.name}"

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error

    def diff(self) -> list[str]:
        return [f"error: {self.error}"] if self.error else list(self.failures)


def _scrapes_of(case: dict[str, Any]) -> dict[str, str]:
    texts = {"engine": case.get("engine_metrics") or "", "lmcache": case.get("lmcache_metrics") or ""}
    for s in case.get("series") or []:
        values = [v for v in expand_values(s["values"]) if v is not None]
        if values:
            v = values[-1]
            texts[s.get("scrape", "engine")] += f"{s['series']} {int(v) if v == int(v) else v!r}\n"
    return {k: v for k, v in texts.items() if v}


def _check_case(row_id: str, case: dict[str, Any], rep: dict[str, Any]) -> list[str]:
    exp = case["expect"]
    fails: list[str] = []
    got = next((r for r in rep["surfaces"] if r["id"] == row_id), None)
    if got is None:
        return [f"row {row_id} is not in the report"]
    if "status" in exp and got["status"] != exp["status"]:
        fails.append(f"status: expected {exp['status']}, got {got['status']}")
    items = {item_key(i): i["status"] for i in got["items"]}
    for k, v in (exp.get("items") or {}).items():
        if items.get(k) != v:
            fails.append(f"{k}: expected {v}, got {items.get(k)}")
    for name, want in (exp.get("derived") or {}).items():
        d = rep["derived"].get(name)
        value = d.get("value") if d else None
        tol = float(want.get("tolerance", 1e-9))
        if want["value"] is None:
            ok = value is None
        else:
            ok = value is not None and abs(float(value) - float(want["value"])) <= tol
        if not ok:
            why = f" ({d.get('reason')})" if d and d.get("reason") else ""
            fails.append(f"derived {name}: expected {want['value']} +/- {tol:g}, got {value}{why}")
    if "engines" in exp and sorted(rep["detected"]["engines"]) != sorted(exp["engines"]):
        fails.append(f"engines: expected {sorted(exp['engines'])}, got {sorted(rep['detected']['engines'])}")
    if "lmcache_mode" in exp and rep["detected"]["lmcache_mode"] != exp["lmcache_mode"]:
        fails.append(f"lmcache_mode: expected {exp['lmcache_mode']}, got {rep['detected']['lmcache_mode']}")
    if "gaps" in exp:
        gaps = sorted(g["item"].removeprefix("lane ") for g in rep["gaps"] if g["row"] == row_id)
        if gaps != sorted(exp["gaps"]):
            fails.append(f"gaps: expected {sorted(exp['gaps'])}, got {gaps}")
    return fails


def run_inline_tests(spec, only_rows: set[str] | None = None) -> list[InlineResult]:
    """Every `tests:` case of every Surfaces row: its series written as scrapes, read by the
    Prometheus reader and judged by the engine exactly as observability-coverage does."""
    import tempfile

    from inferguard.flow.coverage import Inputs, default_context, observability_coverage

    results = []
    for doc in spec.docs("Surfaces"):
        for row in doc["rows"]:
            if only_rows and row["id"] not in only_rows:
                continue
            for case in row.get("tests", []):
                res = InlineResult(row["id"], case["name"])
                with tempfile.TemporaryDirectory(prefix="inferguard-spectest-") as tmp:
                    try:
                        scrapes = _scrapes_of(case)
                    except ValueError as exc:
                        res.error = f"bad series values: {exc}"
                        results.append(res)
                        continue
                    inputs = Inputs(context=default_context(**(case.get("context") or {})))
                    for which, text in scrapes.items():
                        path = Path(tmp) / f"{which}.prom"
                        path.write_text(text, encoding="utf-8")
                        setattr(inputs, f"{which}_metrics_file", str(path))
                    rep = observability_coverage(inputs, spec)
                    res.failures = _check_case(row["id"], case, rep)
                    bad = [p for p in rep["problems"] if p.get("source") == "prometheus"]
                    if bad:
                        res.failures.append(f"the input series are not a clean exposition: {bad[0].get('message')}")
                results.append(res)
    return results
