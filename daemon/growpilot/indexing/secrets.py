"""What counts as a secret, for every privacy rule of the daemon.

- By name: files that hold secrets (`.env`, keys, credential files) are never indexed, trained on or
  completed in; clients get the patterns in the initialize result (PROTOCOL.md). Templates of them
  (`.env.example`, `.env.sample`, `.env.template`, `*.dist`) hold placeholders, so they stay ordinary files.
  Patterns are gitwildmatch globs matched against a file's name (its last path component, lowercased):
  a folder named `.env` (a virtualenv) does not make its files secret.
- By content: detect-secrets' plugins (AWS and other provider keys, private keys, `password = "..."`,
  high-entropy strings) with its false-positive filters. A file with a finding is not indexed; stored
  prompts are redacted. Public IP addresses are not credentials: that plugin is left out.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import os
import re
import threading

import pathspec

SECRET_FILE_PATTERNS = (
    ".env", ".env.*", "*.env", ".envrc",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".npmrc", ".pypirc", ".netrc", ".git-credentials", ".pgpass", ".htpasswd", "credentials.json",
    "*.tfvars", "*.tfvars.json", "*.tfstate", "*.tfstate.backup",
    # Data files only: secrets.py (Python's own module, for one) is code and goes through the content scan.
    "secrets.json", "secrets.yml", "secrets.yaml", "secrets.toml", "secrets.ini", "secrets.txt",
)
SECRET_FILE_EXCEPTIONS = ("*.example", "*.sample", "*.template", "*.dist")  # .env.example: placeholders
EXCLUDED_PLUGINS = ("IPPublicDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "CloudantDetector", "SoftlayerDetector")
REDACTED = "[REDACTED]"
PRIVATE_KEY = "Private Key"
KEYWORD = "Secret Keyword"

_SECRET_NAMES = pathspec.GitIgnoreSpec.from_lines(SECRET_FILE_PATTERNS)
_TEMPLATE_NAMES = pathspec.GitIgnoreSpec.from_lines(SECRET_FILE_EXCEPTIONS)
_B64 = re.compile(r"[A-Za-z0-9+/=]+")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_PEM_HEADER = re.compile(r"\s*[A-Za-z-]+: ")  # Proc-Type: / DEK-Info: lines inside an encrypted PEM block
_setup_lock = threading.Lock()


def is_secret_path(path: str | os.PathLike[str]) -> bool:
    """Whether a file's name says it holds secrets (a path, a workspace-relative path or a file: URI)."""
    name = os.path.basename(os.fspath(path).replace("\\", "/").rstrip("/")).lower()
    return bool(name) and _SECRET_NAMES.match_file(name) and not _TEMPLATE_NAMES.match_file(name)


def find_secrets(text: str, filename: str = "") -> list[tuple[int, str]]:
    """(1-based line, secret type) of each secret in `text`; `filename` picks the keyword rules of its
    language (`.py`: the value must be quoted), as detect-secrets does for files."""
    return list(dict.fromkeys((n, kind) for n, kind, _ in _scan(text, filename)))


def redact(text: str, filename: str = "") -> str:
    """`text` with each secret value replaced by [REDACTED] (the whole line where the plugin names no
    value; a private key's whole block). Lines keep their count."""
    found = _scan(text, filename)
    if not found:
        return text
    lines = text.split("\n")
    per_line: dict[int, list[tuple[str, str | None]]] = {}
    for n, kind, value in found:
        per_line.setdefault(n - 1, []).append((kind, value))
    for i, here in per_line.items():
        if any(kind == PRIVATE_KEY for kind, _ in here):  # its value is the BEGIN header: the key is below it
            for j in _pem_block(lines, i):
                lines[j] = REDACTED
        elif all(value for _, value in here):  # longest first: one value may contain another
            for value in sorted({v for _, v in here}, key=len, reverse=True):
                lines[i] = lines[i].replace(value, REDACTED)
        else:
            lines[i] = REDACTED
    return "\n".join(lines)


def _pem_block(lines: list[str], start: int) -> range:
    """The lines of a PEM block from its BEGIN line: through the END line, or while they look like one."""
    end = start
    if "-----END" not in lines[start]:
        for i in range(start + 1, len(lines)):
            body = re.sub(r"\\n|[\s\"'`,+;]", "", lines[i])
            if "-----END" in lines[i]:
                end = i
                break
            if not (_B64.fullmatch(body) or _PEM_HEADER.match(lines[i])):
                break
            end = i
    return range(start, end + 1)


def _scan(text: str, filename: str) -> list[tuple[int, str, str | None]]:
    """(line, type, value) per finding: detect-secrets' own per-line scan and filters (the results of
    scanning every line with every plugin), run only where a cheap whole-text pass says that plugin
    could report something. That pass is one C-level regex search per pattern instead of a Python call
    per line and plugin: ~25x faster."""
    if not text:
        return []
    from detect_secrets.core import scan
    from detect_secrets.util.code_snippet import get_code_snippet

    # Trimmed (detect-secrets strips the end only): indentation would hide `id=` from its likely-id filter.
    lines = [line.strip() for line in text.split("\n")]
    texts = {False: "\n".join(lines)}
    todo: dict[int, list] = {}
    for plugin, prefilters, lowered in _detectors():
        if lowered not in texts:
            texts[lowered] = texts[False].lower()
        for n in _lines_matching(texts[lowered], prefilters):
            todo.setdefault(n, []).append(plugin)
    out = []
    for n in sorted(todo):
        line = lines[n - 1]
        context = get_code_snippet(lines, n)
        if scan._is_filtered_out(required_filter_parameters=["line"], filename=filename, line=line, context=context):
            continue  # allowlisted (`pragma: allowlist secret`), or an indirect reference (`key = env["KEY"]`)
        for plugin in todo[n]:
            for secret in scan._scan_line(plugin=plugin, filename=filename, line=line, line_number=n, context=context):
                if scan._is_filtered_out(required_filter_parameters=["context"], filename=filename,
                                         secret=secret.secret_value, plugin=plugin, line=line, context=context):
                    continue
                if secret.type == KEYWORD and _ENV_NAME.fullmatch(secret.secret_value or ""):
                    continue  # `api_key_env = "OPENAI_API_KEY"` names a variable, it holds no secret
                out.append((n, secret.type, secret.secret_value))
    return out


def _lines_matching(text: str, patterns: list[re.Pattern] | None) -> set[int]:
    """1-based numbers of the lines where one of `patterns` matches (all lines for None). A match
    spanning lines marks them all and the search resumes on the next line, so no line where a per-line
    search would match is missed (the patterns are MULTILINE: ^ and $ work per line)."""
    count = text.count("\n") + 1
    if patterns is None:
        return set(range(1, count + 1))
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    marked: set[int] = set()
    for pattern in patterns:
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            first = bisect.bisect_right(starts, m.start())
            marked.update(range(first, bisect.bisect_right(starts, max(m.start(), m.end() - 1)) + 1))
            if first == count:
                break
            pos = starts[first]  # the start of the line after the match's first line
    return marked


@functools.cache
def _detectors() -> list[tuple[object, list[re.Pattern] | None, bool]]:
    """detect-secrets' plugins (every built-in one but EXCLUDED_PLUGINS), each with the patterns that
    some line must match for it to report anything there (None: unknown, every line) and whether they
    search the lowercased text. Its settings are a process-wide singleton: configured once here, and
    nothing else in the daemon touches them. No verification filter is configured: nothing is ever sent
    over the network."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.plugins.keyword import DENYLIST, KeywordDetector
    from detect_secrets.settings import get_filters, get_plugins, get_settings

    with _setup_lock:
        # Its log lines may quote a secret ("Skipping <secret> due to ..."): keep them out of ours.
        logging.getLogger("detect-secrets").propagate = False
        settings = get_settings()
        settings.configure_plugins([{"name": cls.__name__} for cls in get_mapping_from_secret_type_to_class().values()
                                    if cls.__name__ not in EXCLUDED_PLUGINS])
        settings.disable_filters("detect_secrets.filters.common.is_invalid_file")  # we scan text, not files on disk
        plugins, _ = get_plugins(), get_filters()
    out = []
    for plugin in plugins:
        if isinstance(plugin, RegexBasedDetector):  # it reports matches of its denylist only
            out.append((plugin, [re.compile(p.pattern, p.flags | re.MULTILINE) for p in plugin.denylist], False))
        elif isinstance(plugin, KeywordDetector):
            # Each of its rules needs a denylisted word (all lowercase): searched case-sensitively in the
            # lowercased text, 15x faster than with IGNORECASE.
            out.append((plugin, [re.compile("|".join(DENYLIST))], True))
        elif isinstance(plugin, HighEntropyStringsPlugin):
            # A string of n characters has at most log2(n) bits of entropy: shorter ones cannot pass the limit.
            shortest = math.floor(2 ** plugin.entropy_limit) + 1
            out.append((plugin, [re.compile(r"([\'\"])([%s]{%d,})(\1)" % (re.escape(plugin.charset), shortest))], False))
        else:
            out.append((plugin, None, False))
    return out
