"""Which language a file is, and how tree-sitter sees its definitions."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import PurePosixPath

EXTENSIONS = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".cs": "csharp", ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".md": "markdown", ".markdown": "markdown",
    # Indexed by line windows (no grammar bundled):
    ".rst": "text", ".txt": "text", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".sh": "shell", ".bash": "shell", ".rb": "ruby", ".php": "php", ".kt": "kotlin", ".kts": "kotlin",
    ".swift": "swift", ".scala": "scala", ".lua": "lua", ".sql": "sql", ".html": "html", ".css": "css",
    ".scss": "css", ".vue": "vue", ".svelte": "svelte", ".dart": "dart", ".ex": "elixir", ".exs": "elixir",
    ".r": "r", ".jl": "julia", ".zig": "zig", ".m": "objc", ".proto": "proto", ".gradle": "groovy",
    ".cfg": "ini", ".ini": "ini",
}
FILENAMES = {"Makefile": "make", "Dockerfile": "docker", "CMakeLists.txt": "cmake"}


def language_of(path: str) -> str | None:
    """Language id for an indexable path, or None when the file is not source or prose we index."""
    p = PurePosixPath(path)
    return FILENAMES.get(p.name) or EXTENSIONS.get(p.suffix.lower())


@dataclass(frozen=True)
class Grammar:
    module: str
    entry: str  # function in the module returning the language pointer
    definitions: frozenset[str]  # node types that become their own chunk, named by symbol
    containers: frozenset[str] = frozenset()  # definitions whose bodies hold further definitions


_GRAMMARS = {
    "python": Grammar("tree_sitter_python", "language",
                      frozenset({"function_definition", "class_definition", "decorated_definition"}),
                      frozenset({"class_definition", "decorated_definition"})),
    "javascript": Grammar("tree_sitter_javascript", "language",
                          frozenset({"function_declaration", "generator_function_declaration", "class_declaration",
                                     "method_definition", "lexical_declaration", "export_statement"}),
                          frozenset({"class_declaration", "export_statement", "class_body"})),
    "typescript": Grammar("tree_sitter_typescript", "language_typescript",
                          frozenset({"function_declaration", "class_declaration", "abstract_class_declaration",
                                     "method_definition", "interface_declaration", "type_alias_declaration",
                                     "enum_declaration", "lexical_declaration", "export_statement",
                                     "internal_module", "module"}),
                          frozenset({"class_declaration", "abstract_class_declaration", "export_statement",
                                     "internal_module", "module"})),
    "csharp": Grammar("tree_sitter_c_sharp", "language",
                      frozenset({"class_declaration", "struct_declaration", "interface_declaration",
                                 "record_declaration", "enum_declaration", "method_declaration",
                                 "constructor_declaration", "property_declaration", "namespace_declaration",
                                 "file_scoped_namespace_declaration"}),
                      frozenset({"class_declaration", "struct_declaration", "interface_declaration",
                                 "record_declaration", "namespace_declaration", "file_scoped_namespace_declaration"})),
    "go": Grammar("tree_sitter_go", "language",
                  frozenset({"function_declaration", "method_declaration", "type_declaration"})),
    "rust": Grammar("tree_sitter_rust", "language",
                    frozenset({"function_item", "impl_item", "struct_item", "enum_item", "trait_item", "mod_item",
                               "macro_definition"}),
                    frozenset({"impl_item", "trait_item", "mod_item"})),
    "java": Grammar("tree_sitter_java", "language",
                    frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
                               "method_declaration", "constructor_declaration"}),
                    frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"})),
    "c": Grammar("tree_sitter_c", "language",
                 frozenset({"function_definition", "struct_specifier", "enum_specifier", "type_definition"})),
    "cpp": Grammar("tree_sitter_cpp", "language",
                   frozenset({"function_definition", "class_specifier", "struct_specifier", "namespace_definition",
                              "template_declaration", "enum_specifier"}),
                   frozenset({"class_specifier", "struct_specifier", "namespace_definition", "template_declaration"})),
    "markdown": Grammar("tree_sitter_markdown", "language", frozenset({"section"}), frozenset({"section"})),
}
_GRAMMARS["tsx"] = Grammar("tree_sitter_typescript", "language_tsx", _GRAMMARS["typescript"].definitions,
                           _GRAMMARS["typescript"].containers)


def grammar(language: str) -> Grammar | None:
    return _GRAMMARS.get(language)


@functools.cache
def _ts_language(language: str):
    spec = _GRAMMARS[language]
    import tree_sitter

    module = importlib.import_module(spec.module)
    return tree_sitter.Language(getattr(module, spec.entry)())


def parser_for(language: str):
    """A fresh tree-sitter Parser (parsers are not thread-safe; languages are), or None without a grammar."""
    if language not in _GRAMMARS:
        return None
    try:
        import tree_sitter

        return tree_sitter.Parser(_ts_language(language))
    except (ImportError, AttributeError, ValueError):
        return None


_HASH_COMMENT = {"python", "shell", "ruby", "yaml", "toml", "r", "julia", "elixir", "make", "docker", "cmake", "ini",
                 "text", "markdown"}


def line_comment(language: str) -> str:
    """The line-comment marker used to show other files' code to models without a repository format."""
    if language == "sql" or language == "lua":
        return "--"
    return "#" if language in _HASH_COMMENT else "//"
