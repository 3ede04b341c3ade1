"""A workspace's coding preferences: indentation, string quotes, naming, logging vs print, type hints,
docstring style and test framework, learned from its files and from the suggestions the user kept or
rewrote, overridden by the explicit `growpilot.preferences` setting.

The detectors are pure functions of texts (counts of what they saw); `learn` weighs the counts into
preferences; `workspace_texts` and `PreferenceCache` are the only I/O. Docstring style and test framework
come from actions/conventions.py. Code actions show them to the model ("Follow this project's
conventions: …"); completions do not (see `conventions_block`)."""

from __future__ import annotations

import ast
import functools
import io
import logging
import os
import random
import re
import threading
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from growpilot.actions import conventions

log = logging.getLogger(__name__)

NAMES = ("indent", "quotes", "naming", "logging", "typeHints", "docstringStyle", "testFramework",
         "jsIndent", "jsQuotes", "jsNaming")
# What `growpilot.preferences` may say: key → allowed values (None: any string).
EXPLICIT = {
    "indent": (2, 4, "tabs"), "quotes": ("single", "double"), "naming": ("snake_case", "camelCase"),
    "logging": ("logging", "print"), "typeHints": (True, False), "docstringStyle": conventions.STYLES,
    "testFramework": ("pytest", "unittest"), "jsIndent": (2, 4, "tabs"), "jsQuotes": ("single", "double"),
    "jsNaming": ("snake_case", "camelCase"), "notes": None,
}
# Why accepted/rewritten text weighs more than the codebase: the user chose it (or typed it) just now,
# while the files hold old, generated and other people's code; one kept literal counts as this many.
ACCEPTED_WEIGHT = 5
MIN_SHARE = 0.6  # a learned preference below this share is reported but not told to the model
MIN_EVIDENCE = 3  # … nor one seen fewer times
MAX_FILES = 300  # files read (evenly sampled from at most WALK_LIMIT found)
WALK_LIMIT = 5000
HEAD_BYTES = 8_192
MAX_BYTES = 400_000  # text read in all: parsing it takes ~0.3 s on a busy core
ACCEPTED_ROWS = 200
PY = (".py",)
JS = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")
_SCRIPT_DIRS = ("scripts", "script", "bin", "examples", "example", "tools")
LOG_METHODS = "debug|info|warning|warn|error|exception|critical"  # a logger's level methods (eval/memory too)
_LOG_CALL = re.compile(rf"\b(?:logging|_?log|_?logger|LOG|LOGGER)\.(?:{LOG_METHODS}|log)\(")
_PRINT_CALL = re.compile(r"(?<![\w.])print\(")
_JS_STRING = re.compile(r"""(?<![\w\\])('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")
_JS_NAME = re.compile(r"\b(?:function|const|let|var)\s+([A-Za-z_$][\w$]*)")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)|^\s*(\w+)\s*=(?!=)", re.M)


@dataclass(frozen=True)
class Preference:
    value: object  # None: no clear preference
    source: str  # "settings" | "codebase" | "accepted"
    evidence: dict = field(default_factory=dict)  # {"codebase": {choice: count}, "accepted": {choice: count}}
    share: float = 0.0  # the value's share of the weighted evidence (1.0 for a setting)

    def as_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "evidence": self.evidence, "share": round(self.share, 3)}


# ----- detectors (pure: text in, counts out)
def indent_counts(text: str) -> Counter:
    """How blocks are indented: "tabs", 2 or 4 (spaces), one count per line that indents deeper than the
    line before it (other widths are left out)."""
    out: Counter = Counter()
    previous = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        lead = line[:len(line) - len(line.lstrip(" \t"))]
        if lead.startswith("\t"):
            out["tabs"] += 1
            previous = -1
            continue
        width = len(lead)
        if previous >= 0 and width > previous and width - previous in (2, 4):
            out[width - previous] += 1
        previous = width
    return out


def python_quote_counts(text: str) -> Counter:
    """"single" / "double": the quotes of the module's one-line string literals (tokenize; docstrings and
    other triple-quoted strings, and literals that hold the other quote, say nothing). A fragment that
    stops tokenizing keeps what was seen before."""
    out: Counter = Counter()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_START", -1):
                body = tok.string.lstrip("rRbBuUfF")
                if body[:3] in ('"""', "'''"):
                    continue
                if tok.type == tokenize.STRING and ("'" in body[1:-1] or '"' in body[1:-1]):
                    continue
                out["single" if body.startswith("'") else "double"] += 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def js_quote_counts(text: str) -> Counter:
    out: Counter = Counter()
    for line in text.split("\n"):
        code = line.split("//", 1)[0] if "//" in line and "://" not in line else line
        for literal in _JS_STRING.findall(code):
            inner = literal[1:-1]
            if "'" in inner or '"' in inner:
                continue
            out["single" if literal[0] == "'" else "double"] += 1
    return out


def name_style(name: str) -> str | None:
    """"snake_case", "camelCase", or None (one lowercase word, a CONSTANT, a dunder: says nothing)."""
    name = name.strip("_")
    if not name or name.isupper() or not name[0].islower():
        return None
    if "_" in name and name == name.lower():
        return "snake_case"
    if re.fullmatch(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+", name):
        return "camelCase"
    return None


@functools.lru_cache(maxsize=4)
def _python_facts(text: str) -> tuple[list[str], Counter, list[str]] | None:
    """One parse and one walk per text: (names of functions, parameters and assigned variables, "annotated"/
    "plain" function counts, docstrings); None when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    names: list[str] = []
    hints: Counter = Counter()
    docs: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [a for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
            if not node.name.startswith("test"):
                names.append(node.name)
                names += [a.arg for a in args]
            if args or node.returns is not None or not node.name.startswith("__"):  # not `def __repr__(self)`
                hinted = node.returns is not None or any(a.annotation is not None for a in args)
                hints["annotated" if hinted else "plain"] += 1
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=False)  # as conventions.docstrings reads them
            if doc and doc.strip():
                docs.append(doc)
    return names, hints, docs


def python_naming_counts(text: str) -> Counter:
    """Functions, parameters and assigned variables (ast; a fragment that does not parse: `def` and `x =` lines)."""
    facts = _python_facts(text)
    names = [a or b for a, b in _DEF.findall(text)] if facts is None else facts[0]
    return Counter(s for s in map(name_style, names) if s)


def js_naming_counts(text: str) -> Counter:
    return Counter(s for s in map(name_style, _JS_NAME.findall(text)) if s)


def logging_counts(text: str) -> Counter:
    """"logging" (logging.x / logger.x / log.x calls) vs "print" calls."""
    return Counter({k: v for k, v in (("logging", len(_LOG_CALL.findall(text))),
                                      ("print", len(_PRINT_CALL.findall(text)))) if v})


def type_hint_counts(text: str) -> Counter:
    """"annotated" / "plain": function definitions with (any parameter or return) annotations, or none."""
    facts = _python_facts(text)
    return Counter() if facts is None else Counter(facts[1])


def docstring_counts(text: str) -> Counter:
    facts = _python_facts(text)
    return Counter() if facts is None else Counter(conventions.classify_docstring(d) for d in facts[2])


def test_framework_counts(test_texts: Iterable[str]) -> Counter:
    """Test files by framework (conventions.test_style of each file that has a test)."""
    return Counter(conventions.test_style([t]) for t in test_texts if "def test" in t or "TestCase" in t)


def is_script(rel: str, text: str) -> bool:
    """A script (where print is the output, not a log): `__main__.py`, a file with a `__main__` guard, or
    one under scripts/, bin/, examples/, tools/."""
    parts = rel.split("/")
    return (parts[-1] == "__main__.py" or any(p in _SCRIPT_DIRS for p in parts[:-1])
            or re.search(r"^if __name__ == ['\"]__main__['\"]", text, re.M) is not None)


# ----- weighing the evidence
def decide(codebase: Counter, accepted: Counter, weight: int = ACCEPTED_WEIGHT) -> Preference:
    """The choice with the most weighted evidence (None on a tie or with none); its source is the side
    that gave it more of its weight."""
    total: Counter = Counter()
    for k, v in codebase.items():
        total[k] += v
    for k, v in accepted.items():
        total[k] += weight * v
    evidence = {"codebase": {str(k): v for k, v in codebase.items()}, "accepted": {str(k): v for k, v in accepted.items()}}
    if not total:
        return Preference(None, "codebase", evidence, 0.0)
    ranked = total.most_common()
    best, count = ranked[0]
    share = count / sum(total.values())
    if len(ranked) > 1 and ranked[1][1] == count:
        return Preference(None, "codebase", evidence, share)
    source = "accepted" if weight * accepted.get(best, 0) > codebase.get(best, 0) else "codebase"
    return Preference(best, source, evidence, share)


def parse_explicit(options: object) -> tuple[dict, list[str]]:
    """The valid entries of `growpilot.preferences` and a warning for each one ignored."""
    if options is None:
        return {}, []
    if not isinstance(options, Mapping):
        return {}, [f"setting preferences must be an object, got {type(options).__name__}; ignored"]
    out: dict = {}
    problems: list[str] = []
    for key, value in options.items():
        if key not in EXPLICIT:
            problems.append(f"setting preferences.{key} is unknown (known: {', '.join(EXPLICIT)}); ignored")
            continue
        allowed = EXPLICIT[key]
        if allowed is None:
            if isinstance(value, str):
                out[key] = value
            else:
                problems.append(f"setting preferences.{key} must be a string; ignored")
            continue
        if isinstance(value, bool) != isinstance(allowed[0], bool) or value not in allowed:
            if key.endswith("ndent") and value in ("2", "4"):
                out[key] = int(value)
                continue
            problems.append(f"setting preferences.{key}={value!r} is invalid (one of "
                            f"{', '.join(map(repr, allowed))}); ignored")
            continue
        out[key] = value
    return out, problems


def learn(files: Sequence[tuple[str, str]], accepted: Sequence[tuple[str, str]] = (),
          explicit: Mapping | None = None) -> tuple[dict[str, Preference], str]:
    """Preferences from (relative path, text) of the workspace's files and of the kept/rewritten
    suggestions, then the valid `explicit` ones over them. Returns (name → Preference, notes)."""
    explicit, _ = parse_explicit(explicit)

    def count(items: Sequence[tuple[str, str]], python: bool) -> dict[str, Counter]:
        c = {n: Counter() for n in ("indent", "quotes", "naming", "logging", "typeHints", "docstringStyle")}
        for rel, text in items:
            if rel.endswith(PY) == python and (python or rel.endswith(JS)):
                c["indent"] += indent_counts(text)
                c["quotes"] += python_quote_counts(text) if python else js_quote_counts(text)
                c["naming"] += python_naming_counts(text) if python else js_naming_counts(text)
                if python:
                    c["typeHints"] += type_hint_counts(text)
                    if not conventions.is_test_code(rel) and not is_script(rel, text):
                        c["logging"] += logging_counts(text)
                        c["docstringStyle"] += docstring_counts(text)
        return c

    py_files, py_kept = count(files, True), count(accepted, True)
    js_files, js_kept = count(files, False), count(accepted, False)
    tests = test_framework_counts(t for r, t in files if r.endswith(PY) and conventions.is_test_file(r))
    out = {name: decide(py_files[name], py_kept[name]) for name in ("indent", "quotes", "naming", "logging")}
    hints = decide(py_files["typeHints"], py_kept["typeHints"])
    out["typeHints"] = Preference(None if hints.value is None else hints.value == "annotated", hints.source,
                                  hints.evidence, hints.share)
    docs = py_files["docstringStyle"]
    # conventions.style_of's rule: sectioned styles win over prose as soon as a docstring has sections
    sectioned = [s for s in ("google", "numpy", "rest") if docs[s]]
    style = max(sectioned, key=lambda s: docs[s]) if sectioned else ("plain" if docs else None)
    out["docstringStyle"] = Preference(style, "codebase", {"codebase": dict(docs)},
                                       docs[style] / sum(docs.values()) if style else 0.0)
    out["testFramework"] = decide(tests, Counter())
    if any(r.endswith(JS) for r, _ in [*files, *accepted]):
        for name in ("indent", "quotes", "naming"):
            out["js" + name[0].upper() + name[1:]] = decide(js_files[name], js_kept[name])
    for key, value in explicit.items():
        if key != "notes":
            out[key] = Preference(value, "settings", out[key].evidence if key in out else {}, 1.0)
    return out, explicit.get("notes", "")


def as_json(workspace: str, prefs: Mapping[str, Preference], notes: str) -> dict:
    body = {name: p.as_dict() for name, p in prefs.items()}
    if notes:
        body["notes"] = {"value": notes, "source": "settings", "evidence": {}, "share": 1.0}
    return {"workspace": workspace, "preferences": body}


def as_text(result: dict) -> str:
    lines = [f"preferences of {result['workspace']}:"]
    for name, p in result["preferences"].items():
        value = "(no clear preference)" if p["value"] is None else p["value"]
        seen = "; ".join(f"{side}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                         for side, counts in p["evidence"].items() if counts)
        lines.append(f"  {name}: {value}  [{p['source']}, share {p['share']:.0%}]" + (f"  ({seen})" if seen else ""))
    return "\n".join(lines)


def _told(p: Preference | None) -> bool:
    if p is None or p.value is None:
        return False
    if p.source == "settings":
        return True
    return p.share >= MIN_SHARE and sum(sum(c.values()) for c in p.evidence.values()) >= MIN_EVIDENCE


def conventions_block(prefs: Mapping[str, Preference], notes: str, language: str) -> str:
    """The line code-action prompts get. Completions get none: FIM completions degrade with
    instructions in the prompt (the model continues the code; the code around it already shows the style)."""
    js = language in ("javascript", "typescript", "tsx")
    if language != "python" and not js:
        return f"Follow this project's rules: {notes.strip()}" if notes.strip() else ""
    key = (lambda n: "js" + n[0].upper() + n[1:]) if js else (lambda n: n)
    rules: list[str] = []
    if _told(q := prefs.get(key("quotes"))):
        rules.append(f"{q.value} quotes for strings")
    if _told(i := prefs.get(key("indent"))):
        rules.append("tabs for indentation" if i.value == "tabs" else f"{i.value}-space indentation")
    if _told(n := prefs.get(key("naming"))):
        rules.append(f"{n.value} names for functions and variables")
    if not js:
        if _told(lg := prefs.get("logging")):
            rules.append("the logging module (a module logger), not print" if lg.value == "logging"
                         else "print for output, not the logging module")
        if _told(t := prefs.get("typeHints")):
            rules.append("type hints on function parameters and returns" if t.value else "no type hints")
    text = "Follow this project's conventions: " + "; ".join(rules) + "." if rules else ""
    if notes.strip():
        text += (" " if text else "") + f"The user's rules: {notes.strip()}"
    return text


# ----- reading the workspace
def workspace_files(root: Path, exclude_dirs: Iterable[str]) -> list[str]:
    """Python and JS/TS files (relative, "/"), vendored and hidden folders skipped, at most WALK_LIMIT."""
    skip = set(exclude_dirs)
    found: list[str] = []
    for here, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in skip and not d.startswith("."))
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        found += [prefix + n for n in sorted(names) if n.endswith(PY + JS) and not n.endswith(".min.js")]
        if len(found) >= WALK_LIMIT:
            break
    return found[:WALK_LIMIT]


def sample(files: Sequence[str], limit: int = MAX_FILES) -> list[str]:
    """At most `limit`, spread evenly over the list (so every folder has its say)."""
    if len(files) <= limit:
        return list(files)
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


def accepted_texts(events, workspace: str, limit: int = ACCEPTED_ROWS) -> list[tuple[str, str]]:
    """(path, text) of the suggestions the user kept (accepted or 👍, never 👎) and of their rewrites."""
    out = [(r["path"] or "", r["output"] or "") for r in events.memory_rows(workspace, limit)
           if (r["accepts"] or r["up"]) and not r["down"]]
    out += [(r["path"] or "", r["rewrite"] or "") for r in events.memory_rewrites(workspace, limit)]
    return [(p, t) for p, t in out if t.strip()]


class PreferenceCache:
    """Per workspace: the preferences, recomputed only when asked or when the sampled files, the kept
    suggestions or the setting changed (a marker of file count and mtimes)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple, dict, str]] = {}
        self._warned: set[str] = set()

    def get(self, root: str | os.PathLike, settings, events=None, refresh: bool = False) -> tuple[dict, str]:
        root = os.path.realpath(root)
        explicit, problems = parse_explicit(getattr(settings, "preferences", None))
        for problem in problems:
            if problem not in self._warned:  # once per problem, not per action
                self._warned.add(problem)
                log.warning(problem)
        rels = sample(workspace_files(Path(root), settings.exclude_dirs))
        mtimes = []
        for rel in rels:
            try:
                mtimes.append(os.stat(os.path.join(root, rel)).st_mtime_ns)
            except OSError:
                mtimes.append(0)
        kept = accepted_texts(events, root) if events is not None else []
        marker = (tuple(rels), hash(tuple(mtimes)), hash(tuple(kept)), repr(sorted(explicit.items())))
        with self._lock:
            cached = self._cache.get(root)
        if cached is not None and cached[0] == marker and not refresh:
            return cached[1], cached[2]
        texts: list[tuple[str, str]] = []
        size = 0
        spread = list(rels)
        random.Random(0).shuffle(spread)  # the byte budget then stops in no particular folder
        for rel in spread:
            if size >= MAX_BYTES:
                break
            texts.append((rel, conventions.read_head(Path(root) / rel, HEAD_BYTES)))
            size += len(texts[-1][1])
        prefs, notes = learn(texts, kept, explicit)
        with self._lock:
            self._cache[root] = (marker, prefs, notes)
        return prefs, notes

    def as_json(self, root: str | os.PathLike, settings, events=None, refresh: bool = False) -> dict:
        prefs, notes = self.get(root, settings, events, refresh)
        return as_json(os.path.realpath(root), prefs, notes)
