"""Markdown for the generated docs. It prints what the engine computed; it decides nothing."""
from __future__ import annotations

import json
from typing import Any

from inferguard.engine.vocab import ITEM_STATE_MEANINGS

BANNER = ("<!-- GENERATED FILE: written by `inferguard docs build` from specs/ and fixtures/. "
          "Do not edit by hand; edit the specs and rebuild. -->")


def _c(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _req(r: dict[str, Any]) -> str:
    what = f"family `{r['family']}`" if "family" in r else f"lane `{r['lane']}`" + (
        f" {r['name']}" if r.get("name") else "") + (f" ({', '.join(r['signals'])})" if r.get("signals") else "")
    if r.get("required_when"):
        what += f" when `{r['required_when']}`"
    if r.get("optional"):
        what += " (optional)"
    return what


def coverage_matrix(spec, matrix: dict[str, Any], inventory: list[dict[str, Any]]) -> str:
    cl = matrix["checklist"]
    caps = [r["capability"]["status"] for r in matrix["rows"]]
    out = [BANNER, "", "# Coverage matrix", ""]
    out += [f"Spec set {spec.version}, digest `{spec.digest}`.", ""]
    out += ["## Status meanings", "",
            "What InferGuard itself can do per row (computed, never typed):", "",
            "- `missing`: no reader exists for a source the row needs.",
            "- `partial`: the readers exist, but some required family or lane is not measured (non-zero) in a passing "
            "fixture captured from a real system: no fixture, all-zero evidence only (it proves parsing, not behaviour), "
            "or synthetic fixtures only.",
            "- `supported`: every required family and lane is measured, with non-zero values, in a passing real capture.",
            "- `live_validated`: supported, and a passing fixture captured live (provenance `live`) measures them all "
            "and is replayed through every command the Checklist's `live_validation` lists ("
            + ", ".join(f"`{c['command']}`" for c in (spec.docs("Checklist")[0].get("live_validation") or {}).get("commands", []))
            + "), each meeting that fixture's expectations: its captured HTTP bodies served from a loopback server, "
            "the packet collected from it, then judged. A command this build does not have leaves the replay pending "
            "and the row at most `supported`.",
            "",
            "Checklist lane states: `missing`, `parser_only` (reader or command exists, nothing proves it on data), "
            "`synthetic_backed` (measured in synthetic fixtures only), "
            "`fixture_backed` (measured in a passing real fixture, or a test exercises it), `live_validated`, "
            "`destructive_skipped` (destructive routes are listed and never sent), `mixed` (items differ). "
            "Credits per state: " + ", ".join(f"`{k}` {v}" for k, v in spec.docs("Checklist")[0]["credits"].items()) + ".",
            "",
            "In a packet, a surface is `covered`, `partial`, `zero`, `missing` or `not_applicable`, and a family is "
            + ", ".join(f"`{k}` ({v})" for k, v in ITEM_STATE_MEANINGS.items()) + " (see the README).", ""]
    out += ["## Progress", ""]
    if cl:
        out.append(f"**Score: {cl['score']} / 100** (weighted checklist lanes and metric-family closeout).")
        out.append("")
    tally = {s: caps.count(s) for s in ("live_validated", "supported", "partial", "missing")}
    out.append("Rows: " + ", ".join(f"{n} {s}" for s, n in tally.items()) + f" (of {len(caps)}).")
    out += ["", "## Matrix", "",
            "| Runtime | Surface | Artifacts | Entrypoints | Requires | Capability | Missing proof | Next command |",
            "|---|---|---|---|---|---|---|---|"]
    for r in matrix["rows"]:
        row, cap = r["row"], r["capability"]
        capt = cap["status"]
        if cap["missing_readers"]:
            capt += f" (no reader: {', '.join(cap['missing_readers'])})"
        else:
            why = []
            if cap["uncovered_items"]:
                why.append(f"no passing fixture for: {', '.join(cap['uncovered_items'])}")
            if cap.get("zero_only_items"):
                why.append(f"all-zero evidence only for: {', '.join(cap['zero_only_items'])}")
            if cap.get("synthetic_only_items"):
                why.append(f"synthetic fixtures only for: {', '.join(cap['synthetic_only_items'])}")
            if why:
                capt += f" ({'; '.join(why)})"
        exp = " (experimental)" if row.get("status") == "experimental" else ""
        out.append(
            f"| {row['runtime']} | {_c(row['surface'])}{exp}<br>`{row['id']}` | {_c('; '.join(row['artifacts']))} | "
            f"{_c('; '.join(row['entrypoints']))} | {'<br>'.join(_c(_req(q)) for q in row['requires'])} | {capt} | "
            f"{_c(row['missing_proof'])} | `{_c(row['next_command'])}` |")
    if cl:
        for title, key in (("Checklist", "lanes"), ("Metric-family closeout", "closeout")):
            out += ["", f"## {title}", "", "| Lane | Weight | State | Credit | Points | Items |", "|---|---|---|---|---|---|"]
            for lane in cl[key]:
                items = "<br>".join(f"{_c(i['item'])}: {i['state']}" for i in lane["items"])
                out.append(f"| {_c(lane['title'])} | {lane['weight']} | {lane['state']} | {lane['credit']:.2f} | {lane['points']:.2f} | {items} |")
    out += ["", "## Current fixture coverage", "", "| Fixture | Provenance | Rows (expectation: result) | Tests naming it |",
            "|---|---|---|---|"]
    by_path: dict[str, list[str]] = {}
    for res in matrix["results"]:
        by_path.setdefault(res.path, []).append(f"`{res.row}` {res.expected_status}: {'pass' if res.passed else 'FAIL'}")
    for fx in inventory:
        rows = "<br>".join(by_path.get(fx["path"], [])) or "none"
        tests = ", ".join(f"`{t}`" for t in fx["tests"]) or "none"
        out.append(f"| `{fx['path']}` | {fx['origin']} | {rows} | {tests} |")
    out += ["", "## Fixture plan", ""]
    plan = []
    for r in matrix["rows"]:
        row, cap = r["row"], r["capability"]
        for res in r["fixtures"]:
            if not res.passed:
                plan.append(f"- `{row['id']}`: `{res.path}` " + ("is declared but missing" if not res.exists else "fails: " + "; ".join(res.diff())))
        if not r["fixtures"]:
            plan.append(f"- `{row['id']}`: no fixture declared; add one under `fixtures/` with a PROVENANCE.yaml and list it in `specs/surfaces.yaml`")
        elif cap["uncovered_items"] and cap["status"] != "missing":
            plan.append(f"- `{row['id']}`: no passing fixture shows {', '.join(f'`{i}`' for i in cap['uncovered_items'])}")
        if cap.get("zero_only_items") and cap["status"] != "missing":
            plan.append(f"- `{row['id']}`: a real capture with traffic would show {', '.join(f'`{i}`' for i in cap['zero_only_items'])} non-zero")
        if cap.get("synthetic_only_items") and cap["status"] != "missing":
            plan.append(f"- `{row['id']}`: a real capture would back {', '.join(f'`{i}`' for i in cap['synthetic_only_items'])} (synthetic fixtures only today)")
        if cap["status"] == "supported":
            if cap.get("live_fixtures_not_replayed"):
                plan.append(f"- `{row['id']}`: live capture(s) {', '.join(f'`{p}`' for p in cap['live_fixtures_not_replayed'])} "
                            "not validated by the live replay (see Live replay)")
            else:
                plan.append(f"- `{row['id']}`: a live capture (provenance `live`) replayed through every live_validation "
                            "command would make it live_validated")
    out += plan or ["Nothing planned."]
    out += ["", "## Live replay", "",
            "Each live fixture of the Checklist's `live_validation`, replayed through its commands "
            "(`passed`, `failed`, `pending`: the command does not exist in this build, `not_run`: an earlier command failed).", "",
            "| Fixture | Result | Commands |", "|---|---|---|"]
    for rp in matrix.get("replays") or []:
        verdict = "validated" if rp.validated else ("FAILED" if rp.failed else "pending")
        cmds = "<br>".join(f"`{c.command}`: {c.status}" for c in rp.commands) or _c(rp.error or "")
        out.append(f"| `{rp.path}` | {verdict} | {cmds} |")
    if not matrix.get("replays"):
        out.append("| none declared | | |")
    out += ["", "## Targeted test command", "", "```bash",
            "inferguard specs test                      # every fixture above, expected versus got per row",
            "python3 -m pytest tests/test_spec_fixtures.py -k 'ROW_ID'   # one row's fixtures under pytest",
            "inferguard docs build --check              # this page matches the specs", "```", ""]
    return "\n".join(out)


def cli_reference(sections: list[tuple[str, str]]) -> str:
    out = [BANNER, "", "# Command line reference", ""]
    for name, help_text in sections:
        out += [f"## `{name}`", "", "```text", help_text.rstrip(), "```", ""]
    return "\n".join(out)


def spec_checks(spec) -> str:
    """docs/spec-checks.md: every check `specs lint` runs, and the vocabulary it resolves against."""
    from inferguard.spec.checks import table_markdown
    from inferguard.spec.registry import registry_of

    reg = registry_of(spec)
    out = [BANNER, "", "# Spec checks", "",
           "`inferguard specs lint` runs every check below on the spec set (or on the files given) and",
           "prints each problem as `path:line:col: check-id: message`; any error exits 2.",
           "`inferguard specs lint --list-checks` prints the same table.", "", table_markdown(), "",
           "## The vocabulary references resolve against", "",
           "Declared in `specs/vocabulary.yaml`.", "",
           "| context key | type | default | flag | meaning |", "|---|---|---|---|---|"]
    for c in reg["context"]:
        out.append(f"| `{c['key']}` | {c['type']}{' (' + ', '.join(c['values']) + ')' if c.get('values') else ''} "
                   f"| `{c['default']}` | `{c['flag']}` | {_c(c['help'])} |")
    out += ["", "| lane | reader | evidence file | signals |", "|---|---|---|---|"]
    for ln in reg["lanes"]:
        sig = ", ".join(f"`{s}`" for s in ln["signals"] + ln["signal_patterns"])
        if ln["signals_from_log_patterns"]:
            sig += ", every LogPatterns category (and `<category>.<value>` for value_signals)"
        out.append(f"| `{ln['id']}` | `{ln['reader']}` | `{ln['evidence_file']}` | {sig} |")
    out += ["", "Runtimes: " + ", ".join(f"`{r['id']}`" for r in reg["runtimes"]) + ". LMCache modes: "
            + ", ".join(f"`{m['id']}`" for m in reg["lmcache_modes"]) + ".", ""]
    out += ["## Checks of findings", "",
            "`observability-coverage`, `lmcache-compat` and `evaluate` report these findings (`checks` in",
            "`specs/vocabulary.yaml`; the first check of a part that matches an entry makes its finding).",
            "`--fail-on SEVERITY` exits 1 on a finding at or above it.", "",
            "| check | severity | reads | matches | what it finds |", "|---|---|---|---|---|"]
    for c in reg.get("checks", []):
        match = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else json.dumps(v)}"
                          for k, v in (c.get("match") or {}).items()) or "only a problem that names it"
        out.append(f"| `{c['id']}` | {c['severity']} | {c['from']} | {_c(match)} | {_c(c['description'])} |")
    out += ["", "| --fail-on alias | commands | fails on a finding of |", "|---|---|---|"]
    for a in reg.get("fail_on", []):
        out.append(f"| `{a['id']}` | {', '.join(a['commands'])} | {', '.join(f'`{c}`' for c in a['checks'])} |")
    out.append("")
    return "\n".join(out)


def diagnosis_rules(spec) -> str:
    """docs/diagnosis-rules.md: every DiagnosisRules rule with its condition, thresholds (default,
    unit, source), causes and next command; the view the conditions read; the verdict priority."""
    from inferguard.engine.diagnosis import EXTRA_FUNCTIONS, VERDICT_PRIORITY, rules_of

    rules = rules_of(spec)
    out = [BANNER, "", "# Diagnosis rules", "",
           "`inferguard diagnose-bottleneck --job-dir DIR --output-dir OUT` evaluates every rule below over",
           "the evidence found in DIR and writes `bottleneck_diagnosis.json` and `bottleneck_diagnosis.md`.",
           "The rules live in `specs/diagnosis/*.yaml` (kind `DiagnosisRules`); `inferguard specs lint`",
           "resolves every name they read and `inferguard specs test` runs their cases and fixtures.", "",
           "## Verdict priority", ""]
    out += [f"{i}. {p[0].upper() + p[1:]}." for i, p in enumerate(VERDICT_PRIORITY, 1)]
    out += ["", "A finding with `basis: gap` (something configured whose evidence is absent) annotates the",
            "verdict; it is never the verdict while a finding on measured evidence exists. When no rule",
            "fires the verdict is `no_finding`; when none could be evaluated, `insufficient_evidence`.", "",
            "## Confidence and missing inputs", "",
            "Each rule names the inputs it reads (packet roles: `engine_metrics`, `lmcache_metrics`,",
            "`engine_argv`, `lmcache_argv`, or a lane). A finding's confidence is",
            "(1 + inputs present) / (1 + inputs declared); the missing ones are listed with it. A rule",
            "none of whose inputs is present is `not_evaluated`, never silent.", "",
            "## What conditions read", "",
            "jmespath over the diagnosis view: `metrics.\"<id>\"` (`value`, `count`/`sum` of a histogram,",
            "`label_values`, `series`; from one snapshot a counter is cumulative since the process started;",
            "`delta`, `rate`, `quantiles` and `window` (a gauge's `min`, `max`, `last`) come from a",
            "collect-metrics `metrics_summary.json`, which alone is enough), `derived.\"<id>\"`,",
            "`logs.<category>` (`count`, `lines`, `captures.<name>` with `sum/min/max` or distinct `values`),",
            "`http.<part>` (health, status, config, ... of the LMCache HTTP lane), `lookup_hash.reuse`,",
            "`otel.spans`, `trace.records`, `cacheblend` (`records`, `totals`, `kinds` of the blend lane),",
            "`signals.<lane>`, `argv.engine` / `argv.lmcache` (one string), `inputs.<role>`,",
            "`context`, `detected`, `basis`; then the rule's `values.<name>` and `thresholds.<name>`.",
            "Functions besides jmespath's own: " + ", ".join(f"`{f}()`" for f in EXTRA_FUNCTIONS)
            + " (null when an argument is null: a missing input makes a condition false).", "",
            "## Overriding thresholds", "",
            "```yaml",
            "# --rule-config FILE",
            "thresholds:",
            "  lmcache/hit-rate-below-floor: {hit_rate_floor: 0.3}",
            "```", "",
            "An unknown rule or threshold, or a value of the wrong type (integer, number, ratio in [0, 1]),",
            "is an error (exit 2) naming the file and line.", "",
            "## Rules", "",
            "| rule | severity | basis | inputs | causes |", "|---|---|---|---|---|"]
    for r in rules:
        exp = " (experimental)" if r.status == "experimental" else ""
        out.append(f"| `{r.id}`{exp} | {r.severity} | {r.basis} | {', '.join(r.inputs)} | "
                   f"{', '.join('`' + c + '`' for c in r.causes) or '-'} |")
    for r in rules:
        out += ["", f"### `{r.id}` — {r.title}", "",
                f"Severity **{r.severity}**, basis {r.basis}, status {r.status}; inputs: {', '.join(r.inputs)}.", "",
                "Fires when: `" + " ".join(r.when.split()) + "`", ""]
        if r.values:
            out.append("Values:")
            out += [f"- `{k}` = `{' '.join(v.split())}`" for k, v in r.values.items()]
            out.append("")
        if r.thresholds:
            out += ["| threshold | default | unit | type | where the default comes from |", "|---|---|---|---|---|"]
            for k, t in r.thresholds.items():
                out.append(f"| `{k}` | {t['value']} | {t['unit']} | {t['type']} | {_c(' '.join(t['description'].split()))} |")
            out.append("")
        if r.causes:
            out += ["Likely causes named when they fire too: " + ", ".join(f"`{c}`" for c in r.causes) + ".", ""]
        out += [f"Message: {_c(' '.join(r.message.split()))}", "",
                f"Remediation: {_c(' '.join(r.remediation.split()))}", "",
                f"Next: `{r.next_command}`", "",
                f"Cases: {sum(1 for c in r.tests if c['expect']['fires'])} firing, "
                f"{sum(1 for c in r.tests if not c['expect']['fires'])} silent."]
    fx = [f for d in spec.docs("DiagnosisRules") for f in d.get("fixtures", [])]
    if fx:
        out += ["", "## Fixture folders", "", "| folder | fires | silent |", "|---|---|---|"]
        for f in fx:
            out.append(f"| `{f['path']}` | {', '.join(f.get('fires', [])) or '-'} | {', '.join(f.get('silent', [])) or '-'} |")
    out.append("")
    return "\n".join(out)


def _over_window(q: dict[str, Any]) -> str:
    if q["motion"] == "gauge":
        return "value at each scrape"
    return "mean of the window (sum and count deltas)" if q["read"] == "mean" else "increase and rate"


def disagg_reference(spec) -> str:
    """docs/disagg.md: what `disagg status` shows per role, from which metrics, and its thresholds
    and findings, from the Disagg spec."""
    out = [BANNER, "", "# disagg status: quantities, thresholds and findings", ""]
    for doc in spec.docs("Disagg")[:1]:
        out += [_c(doc.get("description", "")), "", "## What is shown per role", "",
                "| quantity | read | over a window | vLLM metrics | SGLang metrics |", "|---|---|---|---|---|"]
        for q in doc["quantities"]:
            m = q["metrics"]
            out.append(f"| {_c(q['title'])} (`{q['id']}`) | {q['read']} | "
                       f"{_over_window(q)} | "
                       f"{', '.join(f'`{x}`' for x in m.get('vllm', [])) or '-'} | "
                       f"{', '.join(f'`{x}`' for x in m.get('sglang', [])) or '-'} |")
        out += ["", "Every exposed name and older alias of each metric id is in `specs/metrics/`.", "",
                "## Thresholds", "", "Override one with `--threshold NAME=VALUE`.", "",
                "| threshold | default | where the default comes from |", "|---|---|---|"]
        for name, t in doc["thresholds"].items():
            status = f" ({t['status']})" if t.get("status") else ""
            out.append(f"| `{name}`{status} | {t['default']} {t['unit']} ({t['type']}) | {_c(t['description'])} |")
        out += ["", "## Findings", "", "| check | severity | thresholds | meaning |", "|---|---|---|---|"]
        for f in doc["findings"]:
            ths = ", ".join(f"`{x}`" for x in f.get("thresholds", [])) or "-"
            out.append(f"| `{f['id']}` | {f['severity']} | {ths} | {_c(f['description'])} |")
        out += ["", "Exit code of `disagg status`: 0 nothing at or above warning, 1 a warning or an error, "
                "2 a critical finding (a role unreachable or unreadable) or a usage error, 3 an internal error.", ""]
    return "\n".join(out)
