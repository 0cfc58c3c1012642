"""Safe YAML loading that remembers where every mapping and sequence started.

Marks are kept as attributes of dict/list subclasses (never as keys), so JSON Schema's
`additionalProperties: false` is not tripped and error paths map back to `file:line:col`.

Every document is checked against budgets before anything is built from it: how many alias
references it holds, how many nodes it would have once every alias is expanded, and how deep
it nests. An alias bomb (nine levels of nine aliases is 9**9 nodes once expanded) is refused
with the line where the budget ran out, after a walk proportional to the size of the text.
"""
from __future__ import annotations

from typing import Any

import yaml

try:  # libyaml is several times faster; fall back to the pure-Python loader.
    _Base = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader


from inferguard.spec.marked import LDict, LList  # noqa: E402 - the containers the loader builds


class _Loader(_Base):  # type: ignore[misc,valid-type]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.col = node.start_mark.column + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.col = node.start_mark.column + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


MAX_ALIASES = 1_000          # alias references per document
MAX_NODES = 250_000          # nodes per document, every alias expanded
MAX_DEPTH = 256              # nesting of sequences and mappings


class BudgetError(yaml.MarkedYAMLError):
    """A document over the alias, node or depth budget (a yaml.YAMLError with a mark)."""


def _check_budget(root: yaml.Node, max_aliases: int, max_nodes: int, max_depth: int) -> None:
    """Refuse a composed document whose expansion would exceed the budgets.

    One iterative walk over the distinct nodes: the expanded size of a node is memoised, so
    a node reached again through an alias costs one addition, never a second walk."""
    size: dict[int, int] = {}
    aliases = 0
    on_path: set[int] = set()
    # (node, depth, children iterator or None)
    stack: list[tuple[yaml.Node, int, Any]] = [(root, 1, None)]
    while stack:
        node, depth, it = stack[-1]
        nid = id(node)
        if it is None:
            if depth > max_depth:
                raise BudgetError(problem=f"nested deeper than {max_depth} levels", problem_mark=node.start_mark)
            on_path.add(nid)
            if isinstance(node, yaml.SequenceNode):
                children: list[yaml.Node] = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = []
            it = iter(children)
            stack[-1] = (node, depth, it)
            size[nid] = 1
        child = next(it, None)
        if child is None:
            stack.pop()
            on_path.discard(nid)
            if stack:
                parent = stack[-1][0]
                size[id(parent)] += size[nid]
                if size[id(parent)] > max_nodes:
                    raise BudgetError(problem=f"more than {max_nodes} nodes once aliases are expanded",
                                      problem_mark=node.start_mark)
            continue
        cid = id(child)
        if cid in on_path:
            raise BudgetError(problem="an alias refers to a node that contains it", problem_mark=child.start_mark)
        if cid in size:  # reached again: an alias reference
            aliases += 1
            if aliases > max_aliases:
                raise BudgetError(problem=f"more than {max_aliases} alias references", problem_mark=child.start_mark)
            size[nid] += size[cid]
            if size[nid] > max_nodes:
                raise BudgetError(problem=f"more than {max_nodes} nodes once aliases are expanded",
                                  problem_mark=child.start_mark)
            continue
        stack.append((child, depth + 1, None))


def load_all(text: str, *, max_aliases: int = MAX_ALIASES, max_nodes: int = MAX_NODES,
             max_depth: int = MAX_DEPTH) -> list[Any]:
    """All documents of a YAML stream, with marks. Raises yaml.YAMLError on bad YAML, and
    BudgetError (a yaml.YAMLError) on a document over the alias, node or depth budget."""
    loader = _Loader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_budget(node, max_aliases, max_nodes, max_depth)
            doc = loader.construct_document(node)
            if doc is not None:
                docs.append(doc)
    finally:
        loader.dispose()
    return docs


def safe_load(text: str) -> Any:
    """The first document of `text` (None when there is none), under the same budgets."""
    docs = load_all(text)
    return docs[0] if docs else None
