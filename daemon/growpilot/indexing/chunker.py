"""Code-aware chunking: tree-sitter definitions become chunks, oversized ones are split, the rest is
grouped into line windows. Pure functions: text in, chunks out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from growpilot.indexing.languages import grammar, parser_for

CHUNKER_VERSION = "2"  # bump when chunk boundaries change: indexes re-chunk on open
MAX_LINES = 50
MAX_CHARS = 1600
_IDENTIFIERS = {
    "identifier", "type_identifier", "field_identifier", "property_identifier", "name", "constant",
    "namespace_identifier", "qualified_identifier", "scoped_identifier", "scoped_type_identifier",
}
_NAME_FIELDS = ("name", "declarator", "definition", "declaration", "type")


@dataclass(frozen=True)
class Chunk:
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    text: str
    language: str
    symbol: str | None = None

    @property
    def hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class _Span:
    start: int  # 0-based row, inclusive
    end: int
    symbol: str | None
    definition: bool


def chunk_text(text: str, language: str, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Split a file's text into chunks that cover every non-blank line exactly once."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    spans = _tree_spans(text, language, max_lines, max_chars) or _windows(0, len(lines) - 1, None, lines, max_lines, max_chars)
    return _to_chunks(_merge(spans, lines, max_lines, max_chars), lines, language)


def _tree_spans(text: str, language: str, max_lines: int, max_chars: int) -> list[_Span] | None:
    spec, parser = grammar(language), parser_for(language)
    if spec is None or parser is None:
        return None
    data = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(data)
    lines = text.split("\n")
    fits = lambda n: n.end_point[0] - n.start_point[0] < max_lines and n.end_byte - n.start_byte <= max_chars  # noqa: E731
    out: list[_Span] = []

    def place(node, scope: str | None) -> None:
        is_def = node.type in spec.definitions
        name = _qualify(scope, _symbol(node, data)) if is_def else scope
        start, end = node.start_point[0], _end_row(node)
        if fits(node):
            out.append(_Span(start, end, name, is_def))
            return
        members = _members(node, spec.definitions) if is_def else []
        first_member = next((m.start_point[0] for m in members if m.type in spec.definitions), start)
        if first_member > start:
            # A class too big for one chunk: its head (decorators, declaration, docstring, fields) is the
            # chunk that names it; each member below follows in its own scope.
            head = _windows(start, first_member - 1, name, lines, max_lines, max_chars)
            head[0].definition = True
            out.extend(head)
            for member in members:
                if member.start_point[0] >= first_member:
                    place(member, name)
        elif node.named_child_count:
            inner = _unwrapped(node, spec.definitions)
            for child in [c for c in node.named_children if c != inner] + (inner.named_children if inner != node else []):
                place(child, name)  # a wrapper's decorators, then its definition's parts, all in one scope
        else:
            out.extend(_windows(start, end, name, lines, max_lines, max_chars))

    for top in tree.root_node.named_children:
        place(top, None)
    return out


def _unwrapped(node, definitions: frozenset[str]):
    """The definition a wrapper node holds (a decorated Python definition, an exported declaration): its
    parts belong to the wrapper's symbol, not to a second, nested one."""
    inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
    return inner if inner is not None and inner.type in definitions else node


def _members(node, definitions: frozenset[str]) -> list:
    """The statements of a definition's body (a class's methods and fields…); [] without a body."""
    body = _unwrapped(node, definitions).child_by_field_name("body")
    return list(body.named_children) if body is not None else []


def _end_row(node) -> int:
    row, col = node.end_point
    return row - 1 if col == 0 and row > node.start_point[0] else row


def _qualify(scope: str | None, name: str | None) -> str | None:
    if not name:
        return scope
    return f"{scope}.{name}" if scope else name


def _symbol(node, data: bytes, depth: int = 0) -> str | None:
    """The declared name of a definition node (function, class, section heading…)."""
    if node.type == "section":  # markdown: the heading's text
        heading = node.named_children[0] if node.named_children else None
        if heading is not None and "heading" in heading.type:
            return data[heading.start_byte:heading.end_byte].decode("utf-8", "replace").lstrip("#= ").strip()[:80] or None
        return None
    if depth > 3:
        return None
    for field_name in _NAME_FIELDS:
        child = node.child_by_field_name(field_name)
        if child is None:
            continue
        if child.type in _IDENTIFIERS:
            return data[child.start_byte:child.end_byte].decode("utf-8", "replace")
        found = _symbol(child, data, depth + 1)
        if found:
            return found
    for child in node.named_children:  # e.g. `const f = () => …`: the declarator holds the name
        if child.type.endswith(("declarator", "_spec", "declaration")):
            return _symbol(child, data, depth + 1)
    return None


def _windows(start: int, end: int, symbol: str | None, lines: list[str], max_lines: int, max_chars: int) -> list[_Span]:
    """Line windows over rows start..end, each within both limits."""
    out, first, chars = [], start, 0
    for row in range(start, end + 1):
        size = len(lines[row]) + 1 if row < len(lines) else 1
        if row > first and (row - first >= max_lines or chars + size > max_chars):
            out.append(_Span(first, row - 1, symbol, False))
            first, chars = row, 0
        chars += size
    out.append(_Span(first, end, symbol, False))
    return out


def _merge(spans: list[_Span], lines: list[str], max_lines: int, max_chars: int) -> list[_Span]:
    """Resolve spans sharing rows, then group neighbouring glue (non-definition) spans of one scope."""
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        prev = out[-1] if out else None
        if prev and span.start <= prev.end:  # same row as the previous node (e.g. `a = 1; b = 2`)
            prev.end = max(prev.end, span.end)
            continue
        if (prev and not prev.definition and not span.definition and prev.symbol == span.symbol
                and span.end - prev.start < max_lines
                and sum(len(line) + 1 for line in lines[prev.start:span.end + 1]) <= max_chars):
            prev.end = span.end
            continue
        out.append(_Span(span.start, span.end, span.symbol, span.definition))
    return out


def _to_chunks(spans: list[_Span], lines: list[str], language: str) -> list[Chunk]:
    chunks = []
    for span in spans:
        start, end = span.start, min(span.end, len(lines) - 1)
        while start <= end and not lines[start].strip():
            start += 1
        while end >= start and not lines[end].strip():
            end -= 1
        if start > end:
            continue
        chunks.append(Chunk(start + 1, end + 1, "\n".join(lines[start:end + 1]), language, span.symbol))
    return chunks
