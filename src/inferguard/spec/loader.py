"""Load spec files: YAML (safe loader, with marks) -> JSON Schema per kind -> semantic checks.

Every error is collected, never only the first, and each is reported as
`path:line:col: message (rule id)`.
"""
from __future__ import annotations

import importlib
import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: neither typing nor pathlib is imported when a command runs
    from pathlib import Path
    from typing import Any, Callable, Iterable

from inferguard._data import schemas_dir, schemas_path, specs_path
from inferguard.core import paths as pathtext
from inferguard.core.problems import Problem
from inferguard.core.record import Record
from inferguard.core.usercache import read_own_file, write_own_file

# PyYAML and the marked loader are imported where YAML is parsed: a spec set taken from the
# cache (see load_specs) parses none.

API_VERSION = "inferguard.dev/v1"
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a spec file is a few kB; anything past this is refused unparsed


class SpecDoc(Record):
    _fields = ("kind", "path", "index", "data")

    def __init__(self, kind: str, path: str, index: int, data: Any) -> None:
        self.kind = kind
        self.path = path
        self.index = index      # position of the document within its file
        self.data = data        # LDict with marks


class SpecSet(Record):
    """Validated spec documents plus lazily compiled views of them."""

    _fields = ("docs_by_kind", "files", "digest", "version", "problems", "checked", "_compiled", "_memo")
    _no_repr = frozenset({"_compiled", "_memo"})
    _no_compare = frozenset({"_memo"})

    def __init__(self, docs_by_kind: dict[str, list[SpecDoc]], files: list[str], digest: str, version: str,
                 problems: list[Problem] | None = None, checked: bool = False,
                 _compiled: dict[str, Any] | None = None, _memo: Any = None) -> None:
        self.docs_by_kind = docs_by_kind
        self.files = files
        self.digest = digest
        self.version = version
        self.problems = [] if problems is None else problems
        self.checked = checked      # every document passed the schema, plugin and semantic checks
        self._compiled = {} if _compiled is None else _compiled
        self._memo = _memo          # _Memo of a set with a cache entry

    def docs(self, kind: str) -> list[Any]:
        return [d.data for d in self.docs_by_kind.get(kind, [])]

    def spec_docs(self, kind: str) -> list[SpecDoc]:
        return list(self.docs_by_kind.get(kind, []))

    def compiled(self, key: str, factory: Callable[["SpecSet"], Any]) -> Any:
        if key not in self._compiled:
            self._compiled[key] = factory(self)
        return self._compiled[key]

    def memo(self, name: str, arg: Any, fn: Callable[[Any], Any]) -> Any:
        """fn(arg), kept beside the spec set's cache entry for the next process.

        For the pure functions that compile views of the specs (a regex's literal prefix,
        the scanner of a set of literals): the entry's key covers the spec files and this
        package's code, so a kept result is the one fn would compute. Without an entry (a
        spec set not loaded through the cache), fn runs every time."""
        if self._memo is None:
            return fn(arg)
        return self._memo.get(name, arg, fn)

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


def _spec_files(paths: Iterable[str | Path] | None) -> list[str]:
    """The spec files under `paths` (each a folder or a file; the bundled set without), as
    `sorted(Path(root).rglob("*.yaml"))` then `*.yml` would list them, files only, symlinked
    folders not entered, each written as pathlib writes it (core/paths.py)."""
    roots = [pathtext.pure(p) for p in paths] if paths else [pathtext.pure(specs_path())]
    out: list[str] = []
    for root in roots:
        if os.path.isdir(root):
            for suffix in (".yaml", ".yml"):
                found = []
                for folder, _dirs, names in os.walk(root):
                    for name in names:
                        full = os.path.join(folder, name)
                        if name.endswith(suffix) and os.path.isfile(full):
                            found.append(pathtext.pure(full))
                out.extend(sorted(found, key=pathtext.parts))
        else:
            out.append(root)
    return out


def _resolver() -> Callable[[str], str]:
    """os.path.realpath (what Path.resolve does), once per path: resolving walks every
    component of a path with a system call, and one load names each spec file, its folder and
    the current folder several times."""
    seen: dict[str, str] = {}

    def resolve(p: str) -> str:
        r = seen.get(p)
        if r is None:
            r = seen[p] = os.path.realpath(p)
        return r

    return resolve


def _relative_name(f: str, roots: list[str], resolve: Callable[[str], str] = os.path.realpath) -> str:
    """The name a spec file has in the digest: its path inside the folder it was found in, so
    that the same spec set has the same digest in a checkout and in an installed package."""
    for root in roots:
        if os.path.isdir(root):
            rel = pathtext.relative_to(resolve(f), resolve(root))
            if rel is not None:
                return rel
    return os.path.basename(pathtext.pure(f))


def _display(path: str, resolve: Callable[[str], str] = os.path.realpath) -> str:
    rel = pathtext.relative_to(resolve(path), resolve(os.getcwd()))
    return rel if rel is not None else pathtext.pure(path)


def _schema_problems(doc: Any, kind: str, path: str) -> list[Problem]:
    from inferguard.spec.marked import locate

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


def _cache_base() -> str | None:
    """The user cache directory ($XDG_CACHE_HOME or ~/.cache), or None when there is none."""
    from inferguard.core.usercache import cache_dir

    return cache_dir()


def _tree_listing(root, suffixes: tuple[str, ...], *, contents: bool) -> list[str]:
    """One line per file under `root` whose name ends with `suffixes`, in name order: its name
    and a CRC-32 of its bytes, or (contents=False) its size and modification time, which
    change with any edit."""
    import zlib

    found: list[tuple[str, str]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(folder, root)
        for name in names:
            if name.endswith(suffixes):
                found.append((os.path.join(rel, name), os.path.join(folder, name)))
    out = []
    for rel, full in sorted(found):
        if contents:
            with open(full, "rb") as fh:
                out.append(f"{rel}\0{zlib.crc32(fh.read()):08x}")
        else:
            st = os.stat(full)
            out.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}")
    return out


def _identity(names: list[str], raws: list[bytes]) -> bytes:
    """What a cached spec set depends on, written out whole (an entry is used only for exactly
    this text): the spec files (names, sizes and a CRC-32 of their bytes), the JSON Schemas
    (likewise in a checkout; in an installed package they are package data), the code and
    data of the package that validated and checked them (its version, and the names, sizes
    and modification times of its modules and data files, so that an edited check in a
    checkout is never answered from an entry the old check wrote), the Python version and
    the format of the entry.

    No cryptographic hash is computed or imported on this path: the entry carries the spec
    set's SHA-256 digest as it was when written, and an edited spec file changes its CRC-32
    unless the edit was made to collide on purpose, by someone who can write the spec files
    and so decides what they say anyway."""
    import sys
    import zlib

    import inferguard

    pkg = os.path.dirname(os.path.realpath(inferguard.__file__))
    lines = [f"format {CACHE_FORMAT}", f"inferguard {inferguard.__version__}", f"python {sys.version_info[:2]}"]
    lines += [f"spec {n}\0{len(raw)}\0{zlib.crc32(raw):08x}" for n, raw in zip(names, raws)]
    schemas = schemas_path()
    if pathtext.relative_to(os.path.realpath(schemas), pkg) is None:
        # a checkout: the schemas sit beside the package, read by bytes; installed, they are
        # package data, listed with the modules below
        lines += ["schema " + x for x in _tree_listing(schemas, (".json",), contents=True)]
    lines += ["package " + x for x in _tree_listing(pkg, (".py", ".json"), contents=False)]
    return "\n".join(lines).encode()


# A cache entry is sealed as every per-user entry is (core/usercache.py): MAGIC, the whole
# identity it was written for, a CRC-32 of the payload, then the payload. It is used only
# when its identity is the one asked for, its payload has the CRC it states, and it is a
# regular file of this user.
#
# The payload is one byte naming the codec (M: marshal, P: pickle, for a spec set holding
# a value marshal cannot write, such as a YAML timestamp), the length of the documents part
# (8 bytes), the documents part, then the marks part. The documents part holds the spec
# set's digest and, for each checked document, (kind, file index, index in file, the
# document as plain dicts and lists, the marks of its top-level mapping); the marks part
# holds each document's table of the marks inside it (see spec/marked.py), decoded only
# when a position is asked for.
CACHE_FORMAT = 3
_MAGIC = b"inferguard-specs\n"
_CACHE_SUFFIX = ".marshal"


def _cache_path(identity: bytes) -> str | None:
    from inferguard.core.usercache import short_name

    base = _cache_base()
    return None if base is None else os.path.join(base, f"specs-{short_name(identity)}{_CACHE_SUFFIX}")


def _codec(tag: bytes):
    if tag == b"M":
        import marshal

        return marshal.loads, (ValueError, EOFError, TypeError)
    if tag == b"P":
        import pickle

        return pickle.loads, (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError)
    return None, ()


def _read_cache(path: str | None, identity: bytes) -> tuple[str, list[tuple[str, int, int, Any]]] | None:
    """(digest, the cached documents) for `identity`, or None (no entry, unreadable, foreign,
    corrupt, stale)."""
    from inferguard.core.usercache import unseal

    payload = unseal(read_own_file(path, MAX_SPEC_BYTES * 4) if path is not None else None, _MAGIC, identity)
    if payload is None or len(payload) < 9:
        return None
    loads, errors = _codec(payload[:1])
    size = int.from_bytes(payload[1:9], "big")
    if loads is None or 9 + size > len(payload):
        return None
    try:
        digest, docs = loads(payload[9:9 + size])
    except errors:
        return None
    except (ValueError, TypeError):  # not a pair
        return None
    if not isinstance(docs, list) or not isinstance(digest, str):
        return None
    marks_blob = payload[9 + size:]
    decoded: list[Any] = []

    def all_marks() -> list[dict[tuple, tuple]]:
        # verified with the rest of the payload above; decoded once, on the first position asked for
        if not decoded:
            decoded.append(loads(marks_blob))
        return decoded[0]

    from inferguard.spec.marked import cached_doc

    out = []
    for n, item in enumerate(docs):
        kind, fi, i, plain, top = item
        out.append((kind, fi, i, cached_doc(plain, top, lambda n=n: all_marks()[n])))
    return digest, out


def _encode_entry(digest: str, docs: list[tuple[str, int, int, Any]]) -> bytes:
    from inferguard.spec.marked import split_marks

    parts, tables = [], []
    for kind, fi, i, doc in docs:
        plain, marks = split_marks(doc)
        top = marks.pop((), (getattr(doc, "line", None), getattr(doc, "col", None), None))
        parts.append((kind, fi, i, plain, top))
        tables.append(marks)
    try:
        import marshal

        # version 0: no shared references and no interning flags, whose use depends on the
        # objects' reference counts; the same spec set always gives the same bytes
        tag, a, b = b"M", marshal.dumps((digest, parts), 0), marshal.dumps(tables, 0)
    except ValueError:  # a value marshal cannot write (a YAML timestamp, a set)
        import pickle

        tag = b"P"
        a, b = (pickle.dumps((digest, parts), protocol=pickle.HIGHEST_PROTOCOL),
                pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL))
    return tag + len(a).to_bytes(8, "big") + a + b


def _write_cache(path: str, identity: bytes, digest: str, docs: list[tuple[str, int, int, Any]]) -> None:
    """Best effort, atomic: a cache that cannot be written costs nothing but the next full
    load. Only a regular file (or nothing) at the entry's path is ever replaced."""
    from inferguard.core.usercache import seal

    if write_own_file(path, seal(_MAGIC, identity, _encode_entry(digest, docs)), ".specs-"):
        try:
            _prune(os.path.dirname(path))
        except OSError:
            pass
    # else no writable cache: load from YAML every time


_MEMO_MAGIC = b"inferguard-memo\n"
_MEMO_PREFIX = "memo-"


class _Memo:
    """Results of pure functions of a cached spec set, in `memo-<name>.marshal` beside its
    entry (sealed with the entry's identity, a regular file of this user); read on first
    use, written back at exit when this process added results. Any failure to read or write
    costs the computation and nothing else."""

    def __init__(self, path: str | None, identity: bytes):
        self.path, self.identity = path, identity
        self.table: dict[tuple[str, Any], Any] | None = None
        self.added = 0

    def get(self, name: str, arg: Any, fn: Callable[[Any], Any]) -> Any:
        if self.table is None:
            self.table = self._load()
        k = (name, arg)
        try:
            return self.table[k]
        except KeyError:
            pass
        value = fn(arg)
        self.table[k] = value
        if not self.added and self.path is not None:
            import atexit

            atexit.register(self._save)
        self.added += 1
        return value

    def _load(self) -> dict[tuple[str, Any], Any]:
        from inferguard.core.usercache import unseal

        payload = unseal(read_own_file(self.path, MAX_SPEC_BYTES * 4) if self.path is not None else None,
                         _MEMO_MAGIC, self.identity)
        if payload is None:
            return {}
        import marshal

        try:
            table = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return {}
        return table if isinstance(table, dict) else {}

    def _save(self) -> None:
        import marshal

        from inferguard.core.usercache import seal

        try:
            payload = marshal.dumps(self.table)
        except ValueError:  # a result marshal cannot write: nothing is kept
            return
        write_own_file(self.path, seal(_MEMO_MAGIC, self.identity, payload))


def _memo_path(identity: bytes) -> str | None:
    from inferguard.core.usercache import short_name

    base = _cache_base()
    return None if base is None else os.path.join(base, f"{_MEMO_PREFIX}{short_name(identity)}{_CACHE_SUFFIX}")


KEEP_ENTRIES = 8   # entries kept in the cache directory (other spec sets, versions, checkouts)


def _prune(folder: str) -> None:
    """Remove all but the KEEP_ENTRIES newest entries (regular files only)."""
    for prefix in ("specs-", _MEMO_PREFIX):
        entries = []
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(prefix) and e.name.endswith(_CACHE_SUFFIX) and e.is_file(follow_symlinks=False):
                    entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.path))
        for _mtime, old in sorted(entries, reverse=True)[KEEP_ENTRIES:]:
            try:
                os.unlink(old)
            except OSError:
                pass


def load_specs(paths: Iterable[str | Path] | None = None, *, strict: bool = True, trust_cache: bool = False) -> SpecSet:
    """Load, validate and cross-check a spec set. With strict, any problem raises SpecError.

    With trust_cache, a spec set whose files, schemas and checking code are exactly those of
    an entry in the user's cache directory is taken from that entry: it passed the schema,
    plugin and semantic checks when it was written, so none of them runs again, and no YAML
    is parsed. Any failure to read or write the cache falls back to the full load.
    `specs lint` never trusts the cache."""
    files = _spec_files(paths)
    roots = [pathtext.pure(p) for p in paths] if paths else [pathtext.pure(specs_path())]
    problems: list[Problem] = []
    for root in [pathtext.pure(p) for p in paths or ()]:
        if os.path.isdir(root) and not any(f == root or pathtext.within(f, root) for f in files):
            problems.append(Problem("spec", _display(root), "no spec files (*.yaml, *.yml) in this folder",
                                    rule="spec/empty"))
    base = specs_path()
    from inferguard.core.filecheck import input_problem

    resolve = _resolver()

    # Read every file first (the digest covers them all); a file that cannot be read keeps
    # its problem in its place among the others.
    read: list[tuple[str, bytes | None, Problem | None]] = []
    named: list[tuple[str, bytes]] = []   # (name in the digest, bytes) of each file read
    for f in files:
        shown = _display(f, resolve)
        why = input_problem(str(f))
        if why is not None:  # a FIFO or a device would block or never end
            read.append((shown, None, Problem("spec", shown, f"cannot read: {why}", rule="spec/io")))
            continue
        try:
            with open(f, "rb") as fh:
                raw = fh.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            read.append((shown, None, Problem("spec", shown, f"cannot read: {exc.strerror}", rule="spec/io")))
            continue
        if len(raw) > MAX_SPEC_BYTES:
            read.append((shown, None, Problem("spec", shown, f"larger than {MAX_SPEC_BYTES} bytes; not read", rule="spec/io")))
            continue
        named.append((_relative_name(f, roots, resolve), raw))
        read.append((shown, raw, None))
    shown_files = [_display(f, resolve) for f in files]

    identity = cache = None
    if trust_cache and not problems and all(p is None for _, _, p in read):
        identity = _identity([n for n, _ in named], [raw for _, raw in named])
        cache = _cache_path(identity)
        cached = _read_cache(cache, identity)
        if cached is not None:
            digest, docs = cached
            by_kind: dict[str, list[SpecDoc]] = {}
            for kind, fi, i, data in docs:
                by_kind.setdefault(kind, []).append(SpecDoc(kind, read[fi][0], i, data))
            sets = by_kind.get("SpecSet", [])
            version = str(sets[0].data["version"]) if sets else "0.0.0"
            return SpecSet(by_kind, shown_files, digest, version, checked=True,
                           _memo=_Memo(_memo_path(identity), identity))

    import hashlib

    h = hashlib.sha256()
    for name, raw in named:
        h.update(name.encode() + b"\0" + hashlib.sha256(raw).digest())
    digest = "sha256:" + h.hexdigest()

    import yaml

    from inferguard.spec.marked import locate
    from inferguard.spec.yamlload import load_all

    by_kind = {}
    entry: list[tuple[str, int, int, Any]] = []
    for fi, (shown, raw, problem) in enumerate(read):
        if problem is not None:
            problems.append(problem)
            continue
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
            doc_problems = _schema_problems(doc, kind, shown)
            problems.extend(doc_problems)
            if doc_problems:
                continue
            plugin = _plugin(kind)
            if plugin is not None and hasattr(plugin, "validate"):
                problems.extend(plugin.validate(doc, shown))
            by_kind.setdefault(kind, []).append(SpecDoc(kind, shown, i, doc))
            entry.append((kind, fi, i, doc))
    version = "0.0.0"
    sets = by_kind.get("SpecSet", [])
    if sets:
        version = str(sets[0].data["version"])
    elif paths is None:
        problems.append(Problem("spec", _display(base), "no SpecSet document (spec-set version)", rule="spec/specset"))
    spec = SpecSet(by_kind, shown_files, digest, version)
    # Cross-document checks (unknown references, duplicate names, jmespath that does not compile).
    from inferguard.spec import semantic

    problems.extend(semantic.check_all(spec))
    spec.problems = problems
    spec.checked = not problems
    if strict and problems:
        raise SpecError(problems)
    if cache is not None and not problems:
        _write_cache(cache, identity, digest, entry)
        spec._memo = _Memo(_memo_path(identity), identity)
    return spec


_DEFAULT: SpecSet | None = None


def default_specs() -> SpecSet:
    """The bundled spec set, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_specs(trust_cache=True)
    return _DEFAULT
