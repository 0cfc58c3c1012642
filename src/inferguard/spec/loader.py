"""Load spec files: YAML (safe loader, with marks) -> JSON Schema per kind -> semantic checks.

Every error is collected, never only the first, and each is reported as
`path:line:col: message (rule id)`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from inferguard._data import schemas_dir, specs_dir
from inferguard.core.problems import Problem
from inferguard.spec.yamlload import load_all, locate

API_VERSION = "inferguard.dev/v1"
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a spec file is a few kB; anything past this is refused unparsed


@dataclass
class SpecDoc:
    kind: str
    path: str
    index: int          # position of the document within its file
    data: Any           # LDict with marks


@dataclass
class SpecSet:
    """Validated spec documents plus lazily compiled views of them."""

    docs_by_kind: dict[str, list[SpecDoc]]
    files: list[str]
    digest: str
    version: str
    problems: list[Problem] = field(default_factory=list)
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)

    def docs(self, kind: str) -> list[Any]:
        return [d.data for d in self.docs_by_kind.get(kind, [])]

    def spec_docs(self, kind: str) -> list[SpecDoc]:
        return list(self.docs_by_kind.get(kind, []))

    def compiled(self, key: str, factory: Callable[["SpecSet"], Any]) -> Any:
        if key not in self._compiled:
            self._compiled[key] = factory(self)
        return self._compiled[key]

    def info(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "files": len(self.files)}


def documents_of(specs: Any, kind: str) -> list[tuple[str, Any]]:
    """(path, document) of every `kind` document in a spec set, or in a plain list of documents."""
    if hasattr(specs, "spec_docs"):
        return [(sd.path, sd.data) for sd in specs.spec_docs(kind)]
    return [("", d) for d in specs if isinstance(d, dict) and d.get("kind") == kind]


class SpecError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0].format() if problems else "spec error"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


_SCHEMA_CACHE: dict[str, Any] = {}



def _registry():
    from referencing import Registry, Resource

    resources = []
    for p in sorted(schemas_dir().glob("*.json")):
        contents = json.loads(p.read_text(encoding="utf-8"))
        res = Resource.from_contents(contents)
        resources.append((p.name, res))
        if "$id" in contents:
            resources.append((contents["$id"], res))
    return Registry().with_resources(resources)


def schema_validator(schema_name: str):
    """A Draft 2020-12 validator for `schemas/<schema_name>`, with local $refs resolved."""
    if schema_name not in _SCHEMA_CACHE:
        from jsonschema import Draft202012Validator

        path = schemas_dir() / schema_name
        if not path.is_file():
            return None
        schema = json.loads(path.read_text(encoding="utf-8"))
        if "registry" not in _SCHEMA_CACHE:
            _SCHEMA_CACHE["registry"] = _registry()
        _SCHEMA_CACHE[schema_name] = Draft202012Validator(schema, registry=_SCHEMA_CACHE["registry"])
    return _SCHEMA_CACHE[schema_name]


def _spec_files(paths: Iterable[str | Path] | None) -> list[Path]:
    roots = [Path(p) for p in paths] if paths else [specs_dir()]
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out.extend(sorted(p for p in root.rglob("*.yaml") if p.is_file()))
            out.extend(sorted(p for p in root.rglob("*.yml") if p.is_file()))
        else:
            out.append(root)
    return out


def _relative_name(f: Path, roots: list[Path]) -> str:
    """The name a spec file has in the digest: its path inside the folder it was found in, so
    that the same spec set has the same digest in a checkout and in an installed package."""
    for root in roots:
        if root.is_dir():
            try:
                return f.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                continue
    return f.name


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _schema_problems(doc: Any, kind: str, path: str) -> list[Problem]:
    validator = schema_validator(f"spec.{kind}.v1.schema.json")
    if validator is None:
        line, col = locate(doc, ["kind"])
        return [Problem("spec", path, f"unknown kind {kind!r}", line, col, rule="spec/unknown-kind")]
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = list(err.absolute_path)
        line, col = locate(doc, where)
        jp = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)
        msg = err.message
        if len(msg) > 240:
            msg = msg[:237] + "..."
        problems.append(Problem("spec", path, f"{jp}: {msg}", line, col, rule="spec/schema"))
    return problems


# Kinds with checks of their own beyond the schema: kind -> module in inferguard.spec.kinds.
# Listed, not probed, so that a module missing from an install fails loudly.
KIND_PLUGINS = {"HttpEndpoints": "http_endpoints", "LogPatterns": "log_patterns"}


def _plugin(kind: str):
    mod = KIND_PLUGINS.get(kind)
    return importlib.import_module(f"inferguard.spec.kinds.{mod}") if mod else None


def _stamp_path(digest: str) -> Path | None:
    """Where the validation stamp of this spec set lives, or None when there is no cache dir."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    except (KeyError, RuntimeError):  # no home directory to expand
        return None
    if not base or base.startswith("~"):
        return None
    schema_digest = hashlib.sha256()
    for p in sorted(schemas_dir().glob("*.json")):
        schema_digest.update(p.name.encode() + b"\0" + p.read_bytes())
    key = hashlib.sha256((digest + schema_digest.hexdigest()).encode()).hexdigest()[:32]
    return Path(base) / "inferguard" / f"specs-valid-{key}"


def _stamp_valid(stamp: Path | None) -> bool:
    """A stamp is trusted only when it is a regular file this check can read; any failure to
    look at the cache (unreadable, not a directory, not a file) means: validate again."""
    if stamp is None:
        return False
    try:
        st = os.stat(stamp)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode)


def _write_stamp(stamp: Path, text: str) -> None:
    """Best effort: a cache that cannot be written costs nothing but the next validation.
    Only a regular file (or nothing) at the stamp's path is ever replaced."""
    try:
        try:
            if not stat.S_ISREG(os.lstat(stamp).st_mode):
                return
        except FileNotFoundError:
            pass
        stamp.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".specs-valid-", dir=stamp.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, stamp)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except (OSError, ValueError):
        pass  # no writable cache: validate every time


def _quick_digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def load_specs(paths: Iterable[str | Path] | None = None, *, strict: bool = True, trust_cache: bool = False) -> SpecSet:
    """Load, validate and cross-check a spec set. With strict, any problem raises SpecError.

    With trust_cache, schema validation is skipped when this exact set of spec files and
    schemas passed every check before (a stamp in the user's cache directory); YAML
    parsing and the semantic checks still run. `specs lint` never trusts the cache."""
    files = _spec_files(paths)
    roots = [Path(p) for p in paths] if paths else [specs_dir()]
    problems: list[Problem] = []
    for root in [Path(p) for p in paths or ()]:
        if root.is_dir() and not any(f == root or root in f.parents for f in files):
            problems.append(Problem("spec", _display(root), "no spec files (*.yaml, *.yml) in this folder",
                                    rule="spec/empty"))
    stamp = _stamp_path(_quick_digest(files)) if trust_cache else None
    skip_schema = _stamp_valid(stamp)
    by_kind: dict[str, list[SpecDoc]] = {}
    h = hashlib.sha256()
    base = specs_dir()
    from inferguard.core.filecheck import input_problem

    for f in files:
        shown = _display(f)
        why = input_problem(str(f))
        if why is not None:  # a FIFO or a device would block or never end
            problems.append(Problem("spec", shown, f"cannot read: {why}", rule="spec/io"))
            continue
        try:
            with open(f, "rb") as fh:
                raw = fh.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            problems.append(Problem("spec", shown, f"cannot read: {exc.strerror}", rule="spec/io"))
            continue
        if len(raw) > MAX_SPEC_BYTES:
            problems.append(Problem("spec", shown, f"larger than {MAX_SPEC_BYTES} bytes; not read", rule="spec/io"))
            continue
        rel = _relative_name(f, roots)
        h.update(rel.encode() + b"\0" + hashlib.sha256(raw).digest())
        try:
            docs = load_all(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(Problem("spec", shown, f"not UTF-8 ({exc.reason})", rule="spec/yaml"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            msg = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(
                Problem(
                    "spec", shown, f"invalid YAML: {msg}",
                    (mark.line + 1) if mark else None, (mark.column + 1) if mark else None,
                    rule="spec/yaml",
                )
            )
            continue
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                problems.append(Problem("spec", shown, "document is not a mapping", getattr(doc, "line", 1), rule="spec/shape"))
                continue
            if doc.get("apiVersion") != API_VERSION:
                line, col = locate(doc, ["apiVersion"])
                problems.append(Problem("spec", shown, f"apiVersion must be {API_VERSION!r}", line, col, rule="spec/api-version"))
                continue
            kind = doc.get("kind")
            if not isinstance(kind, str):
                problems.append(Problem("spec", shown, "missing 'kind'", doc.line, doc.col, rule="spec/kind"))
                continue
            doc_problems = [] if skip_schema else _schema_problems(doc, kind, shown)
            problems.extend(doc_problems)
            if doc_problems:
                continue
            plugin = _plugin(kind)
            if plugin is not None and hasattr(plugin, "validate"):
                problems.extend(plugin.validate(doc, shown))
            by_kind.setdefault(kind, []).append(SpecDoc(kind, shown, i, doc))
    version = "0.0.0"
    sets = by_kind.get("SpecSet", [])
    if sets:
        version = str(sets[0].data["version"])
    elif paths is None:
        problems.append(Problem("spec", _display(base), "no SpecSet document (spec-set version)", rule="spec/specset"))
    spec = SpecSet(by_kind, [_display(f) for f in files], "sha256:" + h.hexdigest(), version)
    # Cross-document checks (unknown references, duplicate names, jmespath that does not compile).
    from inferguard.spec import semantic

    problems.extend(semantic.check_all(spec))
    spec.problems = problems
    if strict and problems:
        raise SpecError(problems)
    if stamp is not None and not skip_schema and not problems:
        _write_stamp(stamp, spec.digest + "\n")
    return spec


_DEFAULT: SpecSet | None = None


def default_specs() -> SpecSet:
    """The bundled spec set, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_specs(trust_cache=True)
    return _DEFAULT
