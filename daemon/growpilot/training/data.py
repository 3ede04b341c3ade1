"""Training and evaluation data, pure: files and feedback in, samples out. No model, no I/O: the
tokenizer comes in as functions (`count` tokens of a text, `encode` a text to ids).

- Fill-in-the-middle samples are rendered by the completion prompt's own builder
  (`completion.prompt.build_prompt`, no snippets), so training sees exactly the layout serving sends:
  the family's markers, the repository header, the budgeted prefix and suffix. Spans are mostly
  inside a line (from a word boundary to the line's end or to a later boundary), whole statement
  lines (the cursor at the indentation) and statement-level blocks (the body after an opener).
- Plain samples are windows of whole lines within the training length, the loss on every token
  (next-line prediction at every line).
- Feedback: accepted suggestions still present in their file after a while (retained) and thumbs-up
  ones become samples with their recorded prompt, weighted up; a thumbs-down one never becomes a
  target.
- The held-out split is by file, decided before any training and remembered with content hashes.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from growpilot.completion.prompt import Budget, build_prompt, tail_lines
from growpilot.models.fim import FimTemplate

CountTokens = Callable[[str], int]
Encode = Callable[[str], list[int]]

HELDOUT_SHARE = 0.10  # of the files, the most recently modified
MIN_HELDOUT = 3  # files: fewer cannot say much about an adapter
MIN_TRAIN = 3
MIN_HELDOUT_LINES = 5  # a held-out file must have something to evaluate
PROSE = frozenset({"markdown", "text"})  # trained on, never held out: the gate measures code
LINES_PER_FIM = 6  # one fill-in-the-middle sample per this many non-blank lines
MAX_BLOCK_LINES = 16  # as completion.context: a block completion is cut there too
END_RESERVE = 2  # tokens kept free for the end marker
RETAIN_AFTER_S = 600.0  # an accept counts as retained once this old and still in its file
FEEDBACK_WEIGHT = {"retained": 2.0, "up": 3.0}
_OPENERS = (":", "{", "(", "[", "=>", "->", " do", "then")


def content_hash(data: bytes) -> str:
    """The index's content hash (indexer.py): blake2b, 16 bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class SourceFile:
    rel: str
    text: str
    hash: str
    mtime_ns: int
    language: str

    def nonblank(self) -> int:
        return sum(1 for line in self.text.split("\n") if line.strip())


@dataclass(frozen=True)
class Sample:
    """`prompt` is context only; the loss is on `target` (and the family's end marker when `end`)."""

    kind: str  # fim-span | fim-line | fim-block | plain | next-line | feedback
    prompt: str
    target: str
    end: bool = False
    weight: float = 1.0
    path: str = ""
    generation: str = ""  # feedback: the generation it came from (so that `feedback forget` can find it)

    @property
    def key(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for part in (self.kind.split("-")[0], self.prompt, self.target):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "Sample":
        return cls(**{k: d[k] for k in ("kind", "prompt", "target", "end", "weight", "path")},
                   generation=d.get("generation") or "")


@dataclass(frozen=True)
class Layout:
    """How prompts are laid out: the serving settings that shape them, and the training length."""

    template: FimTemplate
    repo: str  # the workspace folder's name, as the engine writes it
    repo_format: bool
    suffix_share: float
    seq_tokens: int
    # Token healing as the engine does it (cursor line → the text its prompt gives up); None = off. Samples
    # then cut where serving cuts: the prompt ends on a token boundary and the middle spells the rest.
    heal: Callable[[str], str] | None = None

    @classmethod
    def of(cls, template: FimTemplate, settings, repo: str) -> "Layout":
        return cls(template, repo, settings.context_format == "repo", settings.suffix_share,
                   settings.train_sequence_tokens)


def comment_for(language: str) -> str:
    from growpilot.indexing.languages import line_comment

    return line_comment(language)


# ----- the held-out split
@dataclass(frozen=True)
class Split:
    heldout: dict[str, str]  # rel → content hash when it was held out
    retired: dict[str, str]  # held out once, changed since: never trained on (it was measured on)
    train: tuple[str, ...]
    added: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    def record(self) -> dict:
        return {"heldout": dict(sorted(self.heldout.items())), "retired": dict(sorted(self.retired.items()))}


def split_heldout(files: Sequence[SourceFile], previous: Mapping | None = None) -> Split:
    """By file: the most recently modified ~10% of the code files (at least MIN_HELDOUT), or the split
    remembered in `previous` (`Split.record()`), minus the files that changed since; topped up from the
    most recent files only when it fell below the minimum or half its share."""
    from growpilot.training.errors import TooLittleCode

    by_rel = {f.rel: f for f in files}
    previous = previous or {}
    heldout: dict[str, str] = {}
    retired = {rel: h for rel, h in previous.get("retired", {}).items()}
    dropped = []
    for rel, h in previous.get("heldout", {}).items():
        if rel in by_rel and by_rel[rel].hash == h:
            heldout[rel] = h
        else:
            retired[rel] = h  # changed or gone: no longer comparable, and not for training either
            dropped.append(rel)
    eligible = sorted((f for f in files if f.language not in PROSE and f.nonblank() >= MIN_HELDOUT_LINES
                       and f.rel not in heldout and f.rel not in retired),
                      key=lambda f: (-f.mtime_ns, f.rel))
    target = max(MIN_HELDOUT, round(HELDOUT_SHARE * len(files)))
    added = []
    if len(heldout) < max(MIN_HELDOUT, target // 2):
        for f in eligible[:max(0, target - len(heldout))]:
            heldout[f.rel] = f.hash
            added.append(f.rel)
    held_hashes = set(heldout.values()) | set(retired.values())
    train = tuple(sorted(f.rel for f in files if f.rel not in heldout and f.rel not in retired
                         and f.hash not in held_hashes and f.text.strip()))
    if len(heldout) < MIN_HELDOUT or len(train) < MIN_TRAIN:
        raise TooLittleCode(
            f"too little code to hold out: {len(files)} files ({len(heldout)} could be held out, {len(train)} left "
            f"to train on); a training run needs at least {MIN_HELDOUT} code files of {MIN_HELDOUT_LINES}+ lines "
            f"held out to prove an adapter and {MIN_TRAIN} more to learn from")
    return Split(heldout, retired, train, tuple(added), tuple(dropped))


# ----- spans
def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _boundaries(line: str, lo: int) -> list[int]:
    """Cut points in `line` from `lo` on that do not split an identifier or a number."""
    return [k for k in range(lo, len(line) + 1)
            if k in (lo, len(line)) or not (_word(line[k - 1]) and _word(line[k]))]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


@dataclass(frozen=True)
class Span:
    kind: str  # span | line | block
    start: int  # character offsets in the file
    end: int


def _line_offsets(lines: list[str]) -> list[int]:
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    return offsets


def block_spans(lines: list[str], offsets: list[int]) -> list[Span]:
    """Bodies after an opener line (`:`, `{`, …): the lines indented deeper than it, up to
    MAX_BLOCK_LINES; from the first line's indentation to the last line's end."""
    out = []
    prev = None  # index of the previous non-blank line
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if prev is not None and lines[prev].rstrip().endswith(_OPENERS) and _indent(line) > _indent(lines[prev]):
            base = _indent(lines[prev])
            j = last = i
            while j + 1 < len(lines) and j + 1 - i < MAX_BLOCK_LINES and (
                    not lines[j + 1].strip() or _indent(lines[j + 1]) > base):
                j += 1
                if lines[j].strip():
                    last = j
            out.append(Span("block", offsets[i] + _indent(line), offsets[last] + len(lines[last])))
        prev = i
    return out


def fim_spans(text: str, count: int, rng: random.Random, line_end_only: bool = False) -> list[Span]:
    """`count` spans: half inside a line, a quarter whole statement lines, a quarter blocks (when the
    file has any). With `line_end_only` (families without FIM), in-line spans run to the line's end."""
    lines = text.split("\n")
    offsets = _line_offsets(lines)
    candidates = [i for i, line in enumerate(lines) if len(line.strip()) >= 3]
    blocks = block_spans(lines, offsets)
    out: list[Span] = []
    if not candidates:
        return out
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25 and blocks:
            out.append(rng.choice(blocks))
            continue
        i = rng.choice(candidates)
        line, at = lines[i], offsets[i]
        lo = _indent(line)
        if roll < 0.5:
            out.append(Span("line", at + lo, at + len(line)))
            continue
        cuts = _boundaries(line, lo)[:-1]  # a start with at least one character after it
        a = rng.choice(cuts)
        ends = [k for k in _boundaries(line, a) if k > a]
        b = len(line) if line_end_only or rng.random() < 0.5 else rng.choice(ends)
        if line[a:b].strip():
            out.append(Span("span", at + a, at + b))
    return out


def fim_prompt(layout: Layout, count: CountTokens, prefix: str, suffix: str, path: str, language: str,
               budget: int) -> str:
    """The serving prompt for a cursor between `prefix` and `suffix` with no retrieved snippets."""
    return build_prompt(layout.template, count, prefix, suffix, [], path, layout.repo,
                        Budget(budget, 0.0, layout.suffix_share), comment_for(language), layout.repo_format).text


def span_sample(f: SourceFile, span: Span, layout: Layout, count: CountTokens, end: bool = True) -> Sample | None:
    prefix = f.text[:span.start]
    forced = layout.heal(prefix.rsplit("\n", 1)[-1]) if layout.heal and layout.template.has_fim else ""
    prefix = prefix[:len(prefix) - len(forced)]
    middle = forced + f.text[span.start:span.end]
    room = layout.seq_tokens - count(middle) - END_RESERVE
    if room < layout.seq_tokens // 2:  # the middle would crowd out its context
        return None
    prompt = fim_prompt(layout, count, prefix, f.text[span.end:], f.rel, f.language, room)
    return Sample(f"fim-{span.kind}", prompt, middle, end and layout.template.has_fim, 1.0, f.rel)


def windows(text: str, limit: int, count: CountTokens) -> list[str]:
    """Whole lines grouped into windows of at most `limit` tokens (a longer line is a window alone)."""
    out: list[str] = []
    cur: list[str] = []
    cost = 0
    for line in text.split("\n"):
        c = count(line + "\n")
        if cur and cost + c > limit:
            out.append("\n".join(cur) + "\n")
            cur, cost = [], 0
        cur.append(line)
        cost += c
    if any(line.strip() for line in cur):
        out.append("\n".join(cur).rstrip("\n") + "\n")
    return [w for w in out if w.strip()]


def file_samples(f: SourceFile, layout: Layout, count: CountTokens, seed: int = 0) -> list[Sample]:
    """One file's training samples: FIM spans (one per LINES_PER_FIM non-blank lines) and its plain windows."""
    rng = random.Random(f"{seed}:{f.hash}")
    n = max(1, f.nonblank() // LINES_PER_FIM)
    out = [s for span in fim_spans(f.text, n, rng, not layout.template.has_fim)
           if (s := span_sample(f, span, layout, count)) is not None]
    out += [Sample("plain", "", w, False, 1.0, f.rel) for w in windows(f.text, layout.seq_tokens - END_RESERVE, count)]
    return out


def dedup(samples: Iterable[Sample]) -> tuple[list[Sample], int]:
    """Samples with distinct content (first kept), and how many repeats were dropped."""
    seen: set[str] = set()
    out, dups = [], 0
    for s in samples:
        if s.key in seen:
            dups += 1
            continue
        seen.add(s.key)
        out.append(s)
    return out, dups


def dedup_files(files: Iterable[SourceFile]) -> tuple[list[SourceFile], int]:
    seen: set[str] = set()
    out, dups = [], 0
    for f in files:
        if f.hash in seen:
            dups += 1
        else:
            seen.add(f.hash)
            out.append(f)
    return out, dups


# ----- the loss filter
def loss_window(f: SourceFile, layout: Layout, count: CountTokens) -> str:
    """The text a file is scored on: its first window (scoring whole files would cost as much as training)."""
    found = windows(f.text, layout.seq_tokens - END_RESERVE, count)
    return found[0] if found else ""


def passes_loss_filter(loss: float | None, threshold: float) -> bool:
    """Files the base model finds very unlikely (data, tables, generated code) are left out; 0 = off."""
    return threshold <= 0 or loss is None or loss <= threshold


# ----- evaluation tasks
@dataclass
class EvalTasks:
    fim: list[Sample] = field(default_factory=list)  # NLL of middles
    next: list[Sample] = field(default_factory=list)  # NLL of the next line after a plain prefix
    line: list[Sample] = field(default_factory=list)  # exact match of whole statement lines (FIM)

    def counts(self) -> dict:
        return {"fim": len(self.fim), "next": len(self.next), "line": len(self.line)}


def next_line_sample(f: SourceFile, i: int, layout: Layout, count: CountTokens) -> Sample | None:
    lines = f.text.split("\n")
    target = lines[i]
    room = layout.seq_tokens - count(target) - END_RESERVE
    if room < layout.seq_tokens // 2:
        return None
    prefix, _ = tail_lines("\n".join(lines[:i]) + "\n", room, count)
    return Sample("next-line", prefix, target, False, 1.0, f.rel)


def eval_tasks(files: Sequence[SourceFile], layout: Layout, count: CountTokens, fim: int, nxt: int, line: int,
               seed: int = 0) -> EvalTasks:
    """About `fim`, `nxt` and `line` tasks spread evenly over `files`, the same for the same files and seed."""
    tasks = EvalTasks()
    if not files:
        return tasks
    files = sorted(files, key=lambda f: f.rel)
    per = [(-(-n // len(files))) for n in (fim, nxt, line)]
    for f in files:
        rng = random.Random(f"eval:{seed}:{f.hash}")
        lines = f.text.split("\n")
        offsets = _line_offsets(lines)
        spans = [s for s in fim_spans(f.text, per[0] * 3, rng, not layout.template.has_fim) if s.kind != "line"]
        tasks.fim += [s for span in _distinct(spans)[:per[0]]
                      if (s := span_sample(f, span, layout, count, end=False)) is not None]
        starts = [i for i in range(1, len(lines)) if len(lines[i].strip()) >= 3]
        picked = sorted(rng.sample(starts, min(len(starts), per[1])))
        tasks.next += [s for i in picked if (s := next_line_sample(f, i, layout, count)) is not None]
        statements = [i for i in starts if not lines[i].lstrip().startswith(("#", "//", "*", "/*", '"""', "'''"))]
        picked = sorted(rng.sample(statements, min(len(statements), per[2])))
        tasks.line += [s for i in picked if (s := span_sample(
            f, Span("line", offsets[i] + _indent(lines[i]), offsets[i] + len(lines[i])), layout, count, end=False))]
    tasks.fim, tasks.next, tasks.line = tasks.fim[:fim], tasks.next[:nxt], tasks.line[:line]
    return tasks


def _distinct(spans: list[Span]) -> list[Span]:
    return list(dict.fromkeys(spans))


# ----- feedback
@dataclass(frozen=True)
class FeedbackRow:
    """One suggestion with what the user did with it (learning.events.EventStore.training_feedback)."""

    id: str
    created: float
    path: str
    prompt: str
    output: str
    model: str
    healed: str  # text the prompt gave up to token healing; the suggestion starts after it
    accepted: bool
    up: int
    down: int


def select_feedback(rows: Iterable[FeedbackRow], texts: Mapping[str, str], heldout: Iterable[str], model: str,
                    now: float, retain_after_s: float = RETAIN_AFTER_S) -> tuple[list[Sample], dict]:
    """Samples from feedback, and counts of why the others were not used. `texts`: the workspace's
    files now (rel → text), to tell whether an accepted suggestion was kept."""
    held = set(heldout)
    counts = {"retained": 0, "up": 0, "down_excluded": 0, "pending": 0, "not_retained": 0, "heldout_excluded": 0,
              "other_model": 0, "empty": 0}
    out: list[Sample] = []
    for r in rows:
        if r.down:
            counts["down_excluded"] += 1  # kept in the store for preference training; never a target
            continue
        if not r.prompt or not r.output.strip():
            counts["empty"] += 1  # typed-ahead or cached suggestions record no prompt of their own
            continue
        if r.model != model:
            counts["other_model"] += 1  # its prompt was laid out for another model
            continue
        if r.path in held or any(_names(r.prompt, p) for p in held):
            counts["heldout_excluded"] += 1  # its file or its context is held out
            continue
        if r.up:
            weight, why = FEEDBACK_WEIGHT["up"], "up"
        elif r.accepted:
            if now - r.created < retain_after_s:
                counts["pending"] += 1
                continue
            if r.output.strip() not in texts.get(r.path, ""):
                counts["not_retained"] += 1
                continue
            weight, why = FEEDBACK_WEIGHT["retained"], "retained"
        else:
            continue
        counts[why] += 1
        out.append(Sample("feedback", r.prompt, r.healed + r.output, True, weight, r.path, r.id))
    return out, counts


def _names(prompt: str, path: str) -> bool:
    """Whether a prompt shows the file `path` as a retrieved snippet (repository or comment format)."""
    return f">{path}\n" in prompt or f"From {path}:\n" in prompt


# ----- tokenized samples and batches
@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    labels: list[int]  # -100 where no loss
    weight: float
    kind: str

    @property
    def targets(self) -> int:
        return sum(1 for x in self.labels[1:] if x != -100)


def encode_sample(s: Sample, encode: Encode, end_id: int | None, max_tokens: int) -> Encoded | None:
    """Token ids and labels; None when the sample does not fit in `max_tokens` (plain windows are cut)."""
    if not s.prompt:
        ids = encode(s.target)[:max_tokens]
        return Encoded(ids, list(ids), s.weight, s.kind) if len(ids) > 1 else None
    p = encode(s.prompt)
    t = encode(s.target) + ([end_id] if s.end and end_id is not None else [])
    if len(p) + len(t) > max_tokens or not t or not p:
        return None
    return Encoded(p + t, [-100] * len(p) + t, s.weight, s.kind)


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, pool: int = 50) -> list[list[int]]:
    """Indices in batches of similar length: shuffled, sorted within pools of `pool` batches, batches
    shuffled. Padding is what a plain loop spends most on; this keeps order random at the batch level."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    step = batch_size * pool
    for i in range(0, len(order), step):
        chunk = sorted(order[i:i + step], key=lambda j: lengths[j])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def padding_share(batches: Iterable[Sequence[int]], lengths: Sequence[int]) -> float:
    real = padded = 0
    for b in batches:
        real += sum(lengths[i] for i in b)
        padded += max(lengths[i] for i in b) * len(b)
    return 1 - real / padded if padded else 0.0


# ----- the manifest
def manifest_hash(manifest: Mapping) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def samples_hash(samples: Iterable[Sample]) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(s.key.encode())
    return h.hexdigest()


def kind_counts(samples: Iterable[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        out[s.kind] = out.get(s.kind, 0) + 1
    return dict(sorted(out.items()))
