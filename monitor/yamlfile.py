"""Load a YAML file keeping the line of every key, so validation errors can name the line.

Config and lexicon files are edited by hand; a message like ``keywords/x.yaml:12: ...`` lets
the person who made the mistake find it. PyYAML's composer gives node marks; we walk the node
tree once, building plain Python data and a map from each value's path to its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.errors import UserInputError

Lines = dict[tuple, int]
MAX_VALUES = 1_000_000  # values in a file once aliases are expanded
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_BYTES = 64 * 1024 * 1024


def _check_structure(text: str, file: str, error: type, loader) -> None:
    """Refuse, from the parser's events and before anything is built, what would hang or blow
    up later: a recursive alias, aliases that expand past MAX_VALUES (the "billion laughs"),
    nesting deeper than MAX_DEPTH. Linear in the file's size, whatever its aliases."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    open_nodes: list[list] = []  # [anchor, values so far] of the mappings/lists being read
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise error(
                    file, event.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels"
                )
            open_nodes.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, count = open_nodes.pop()
            if anchor:
                sizes[anchor] = count
        elif isinstance(event, yaml.ScalarEvent):
            count = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                raise error(file, line, f"recursive alias *{event.anchor} (it contains itself)")
            if event.anchor not in sizes:
                raise error(file, line, f"alias *{event.anchor} names no anchor above it")
            count = sizes[event.anchor]
        else:
            continue
        if open_nodes:
            open_nodes[-1][1] += count
            if open_nodes[-1][1] > MAX_VALUES:
                raise error(
                    file,
                    event.start_mark.line + 1,
                    f"aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)",
                )


def _construct(node: yaml.Node, path: tuple, lines: Lines, file: str, error: type) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise error(file, key_node.start_mark.line + 1, "a key must be a plain word")
            key = key_node.value
            if key in out:
                raise error(file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, path + (key,), lines, file, error)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, path + (i,), lines, file, error) for i, n in enumerate(node.value)]
    # Scalars: let SafeLoader resolve the tag (int, bool, null, str ...).
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise error(file, node.start_mark.line + 1, f"bad value: {exc}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, error: type = UserInputError) -> tuple[Any, Lines]:
    """Return (data, lines) for a YAML file; syntax errors raise ``error`` with file and line."""
    file = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise error(file, None, f"{size:,} bytes: larger than a hand-edited file can be")
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(file, None, "file not found") from None
    except OSError as exc:
        raise error(file, None, f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            file, line, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_structure(text, file, error, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(file, line, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise error(file, None, f"YAML error: {exc}") from None
    lines: Lines = {}
    if node is None:
        return None, lines
    return _construct(node, (), lines, file, error), lines


def line_of(lines: Lines, path: tuple) -> int | None:
    """The line of ``path`` or of its nearest parent that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def dotted(path: tuple) -> str:
    """('targets', 0, 'url') -> 'targets[0].url', the way a user reads a key."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
