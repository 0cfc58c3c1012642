"""`inferguard evaluate PACKET_DIR`: recognise a packet's files by the SpecSet patterns and
run every evaluation they allow."""
from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any

from inferguard.core import paths as pathtext
from inferguard.core.globs import match
from inferguard.core.problems import InputError

def _context_keys() -> set[str]:
    from inferguard.spec.registry import bundled, context_defaults

    return set(context_defaults(bundled()))


def classify(packet_dir: str, spec) -> dict[str, list[str]]:
    """role -> files (relative order kept); a file goes to the first role whose pattern matches."""
    roles: dict[str, list[str]] = {}
    from inferguard.spec.registry import registry_of

    rules = registry_of(spec)["packet_roles"]
    names = sorted(n for n in os.listdir(pathtext.pure(packet_dir)) if not n.startswith(".") and n != "PROVENANCE.yaml")
    for name in names:
        path = pathtext.join(packet_dir, name)   # as str(Path(packet_dir) / name)
        for rule in rules:
            if any(match(name, pat) for pat in rule["patterns"]):
                if os.path.isdir(path) and rule.get("reader") != "lane":
                    continue
                roles.setdefault(rule["role"], []).append(path)
                break
    # A lane's evidence JSON (its first pattern) wins over raw artifacts of the same lane; a
    # single-view role keeps only the files of the earliest pattern that matched anything.
    for rule in rules:
        files = roles.get(rule["role"])
        if not files:
            continue
        cut = len(rule["patterns"]) if rule.get("single_view") else 1
        for pat in rule["patterns"][:cut] if rule.get("reader") == "lane" else []:
            hits = [f for f in files if match(os.path.basename(f), pat)]
            if hits:
                roles[rule["role"]] = hits
                break
    return roles


def _drop_unreadable(roles: dict[str, list[str]], problems: list[dict[str, Any]]) -> None:
    """A file in the packet that cannot be read as an input (a FIFO, a device, a dangling
    link, no permission) is a problem; the rest of the packet is still evaluated."""
    from inferguard.core.filecheck import input_problem

    for role, files in list(roles.items()):
        kept = []
        for f in files:
            why = input_problem(f, allow_dir=True)
            if why is None:
                kept.append(f)
            else:
                problems.append({"source": "packet", "path": f, "message": f"not read: {why}"})
        if kept:
            roles[role] = kept
        else:
            del roles[role]


MAX_CONTEXT_BYTES = 1 << 20


def _yaml_error() -> type[Exception]:
    """PyYAML's error class, imported only when a context file raised something."""
    import yaml

    return yaml.YAMLError


def _context(files: list[str], problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The declared context. A file that cannot be read (not UTF-8, not YAML/JSON, numbers or
    nesting beyond what can be read) is a problem and is not used; one that reads but says
    something wrong (not a mapping, unknown keys) is an input error."""
    from inferguard.readers.jsonio import JsonInputError, loads
    from inferguard.spec.flatyaml import NOT_FLAT, read_flat

    ctx: dict[str, Any] = {}
    for f in files:
        size = os.path.getsize(f)
        if size > MAX_CONTEXT_BYTES:  # a few keys: anything this large is not a context file
            problems.append({"source": "context", "path": f, "offset": MAX_CONTEXT_BYTES,
                             "message": f"context file not used: larger than {MAX_CONTEXT_BYTES} bytes"})
            continue
        with open(f, "rb") as fh:
            raw = fh.read()
        try:
            if f.endswith(".json"):
                data = loads(raw)
            else:
                text = raw.decode("utf-8")
                # the commonest form (a flat mapping of plain words) is read as the safe
                # loader reads it, without importing PyYAML; anything else goes to the loader
                data = read_flat(text)
                if data is NOT_FLAT:
                    from inferguard.spec.yamlload import safe_load

                    data = safe_load(text)  # alias, node and depth budgets
        except JsonInputError as exc:
            problems.append({"source": "context", "path": f, "offset": exc.offset,
                             "message": f"context file not used: {exc.message}"})
            continue
        except UnicodeDecodeError as exc:
            problems.append({"source": "context", "path": f, "offset": exc.start,
                             "message": "context file not used: not valid UTF-8"})
            continue
        except _yaml_error() as exc:
            mark = getattr(exc, "problem_mark", None)
            p = {"source": "context", "path": f, "message": f"context file not used: {str(exc).splitlines()[0]}"}
            if mark is not None:
                p.update(line=mark.line + 1, offset=mark.index)
            problems.append(p)
            continue
        except (ValueError, RecursionError) as exc:  # an integer too long to convert, deep nesting
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            problems.append({"source": "context", "path": f, "message": f"context file not used: {what}"})
            continue
        if data is None:  # an empty file declares nothing
            continue
        if not isinstance(data, dict):
            raise InputError(f"context file must be a mapping, not {type(data).__name__}", f)
        known = _context_keys()
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown context keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})", f)
        ctx.update(data)
    return ctx


MANIFEST = "packet_manifest.json"


def read_manifest(packet_dir: str, problems: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The packet's collect-lmcache manifest, read once: None when there is none; an empty
    mapping, with a problem of the packet, when it cannot be read."""
    path = pathtext.join(packet_dir, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.loads(fh.read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append({"source": "packet", "path": path, "message": f"manifest not read: {exc}"})
        return {}
    return data if isinstance(data, dict) else {}


def manifest_state(manifest: dict[str, Any] | None) -> str | None:
    """The `state` the manifest recorded, or None when there is no manifest."""
    if manifest is None:
        return None
    state = manifest.get("state") or ("unreadable" if not manifest else None)
    return state if isinstance(state, str) else "unknown"


def manifest_context(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The context collect-lmcache recorded in the manifest (--expect-mode, --l2-configured and
    the other context flags), as context keys. collect-lmcache records a key under the name of
    its own flag for it (the Vocabulary's flags_by_command), e.g. expect_mode."""
    from inferguard.spec.registry import bundled, flag_dest

    ctx = (manifest or {}).get("context")
    if not isinstance(ctx, dict):
        return {}
    reg = bundled()
    known = {c["key"] for c in reg["context"]}
    own = {flag_dest(c["flags_by_command"]["collect-lmcache"]): c["key"]
           for c in reg["context"] if "collect-lmcache" in c["flags_by_command"]}
    out: dict[str, Any] = {}
    for key, value in ctx.items():
        key = own.get(key, key)
        if key in known and value is not None:
            out[key] = value
    return out


def packet_inputs(packet_dir: str, spec, context_overrides: dict[str, Any] | None = None, window: bool = True):
    """(Inputs, roles, manifest, packet problems) of a packet folder: its files recognised by
    the Vocabulary's packet patterns, its recorded context, then a context file, then
    `context_overrides`. Reads nothing but the folder listing, the manifest and the context.
    With `window` (coverage), a collect-metrics summary is judged instead of a single scrape;
    without (diagnosis, which reads the window beside the snapshot), the scrapes are kept."""
    from inferguard.flow.coverage import LANES, Inputs, default_context

    if not os.path.isdir(packet_dir):
        raise InputError("No such directory" if not os.path.exists(packet_dir) else "not a directory", packet_dir)
    roles = classify(packet_dir, spec)
    packet_problems: list[dict[str, Any]] = []
    _drop_unreadable(roles, packet_problems)
    manifest = read_manifest(packet_dir, packet_problems)
    window_ctx: dict[str, Any] = {}
    summary = None
    if not window:
        roles.pop("metrics_window", None)
    if roles.get("metrics_window"):
        # what collect-metrics recorded (--engine), under what the packet and the flags say;
        # the summary is read (and checked) once, here, and handed to the evidence build
        from inferguard.flow.window import load_summary

        summary = load_summary(packet_dir)
        known = _context_keys()
        window_ctx = {k: v for k, v in (summary[0].get("context") or {}).items() if k in known}
    ctx = default_context(**{**window_ctx, **manifest_context(manifest),
                             **_context(roles.get("context", []), packet_problems)})
    if context_overrides:
        ctx.update({k: v for k, v in context_overrides.items() if v is not None})
    inputs = Inputs(context=ctx, lenient_lanes=True)
    for role, attr in (("engine_metrics", "engine_metrics_file"), ("lmcache_metrics", "lmcache_metrics_file")):
        files = roles.get(role, [])
        if files:
            setattr(inputs, attr, files[0])
    for role, argv_role in (("engine_argv", "engine"), ("lmcache_argv", "lmcache")):
        if roles.get(role):
            inputs.argv_files[argv_role] = roles[role][0]
    for lane in LANES:
        if roles.get(lane):
            inputs.lane_files[lane] = roles[lane]
    if roles.get("metrics_window"):
        # A collect-metrics output folder: its window, read through metrics_summary.json.
        inputs.metrics_window_dir = packet_dir
        inputs.metrics_window = summary
        for attr in ("engine_metrics_file", "lmcache_metrics_file"):
            if getattr(inputs, attr):
                packet_problems.append({"source": "packet", "path": getattr(inputs, attr),
                                        "message": "not used: the packet's collect-metrics window is judged instead of a single scrape"})
                setattr(inputs, attr, None)
    return inputs, roles, manifest, packet_problems


def evaluate_packet(packet_dir: str, spec, context_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from inferguard.flow.coverage import add_findings, build_evidence, coverage_report

    inputs, roles, manifest, packet_problems = packet_inputs(packet_dir, spec, context_overrides)
    if not any([inputs.engine_metrics_file, inputs.lmcache_metrics_file, inputs.lane_files, inputs.argv_files,
                inputs.metrics_window_dir]):
        if packet_problems:
            first = packet_problems[0]
            raise InputError(f"no readable evidence files; {first['path']}: {first['message']}", packet_dir)
        raise InputError("no recognised evidence files (see `inferguard specs list --kind SpecSet`)", packet_dir)
    evidence = build_evidence(inputs, spec)
    evidence["problems"][:0] = packet_problems
    report = coverage_report(evidence, spec, kind="PacketEvaluation")
    report["packet"] = {"dir": packet_dir, "files": {r: [os.path.basename(f) for f in fs] for r, fs in sorted(roles.items())}}
    state = manifest_state(manifest)
    if state not in (None, "complete"):
        report["problems"].append({"source": "packet", "path": os.path.join(packet_dir, MANIFEST), "check": "packet/incomplete",
                                   "message": f"the packet is not complete (state {state}): what it lists was collected, the rest was not"})
    extra = roles.get("engine_metrics", [])[1:] + roles.get("lmcache_metrics", [])[1:]
    if extra:
        report["problems"].append({"source": "packet", "path": packet_dir,
                                   "message": f"more than one scrape per role; used the first, ignored {', '.join(map(os.path.basename, extra))}"})
    return add_findings(report, evidence, spec)
