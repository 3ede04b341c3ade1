"""Training data is built by pure functions: no model, no server. A character-based token count stands in
for the tokenizer where only budgets matter."""

from __future__ import annotations

import random
import re
import time
from types import SimpleNamespace

import pytest

from growpilot.config import Settings
from growpilot.models.fim import TEMPLATES
from growpilot.training import data as D
from growpilot.training.errors import TooLittleCode


def count(text: str) -> int:
    return len(text) // 3 + 1


CODE = '''"""Orders."""

import logging

log = logging.getLogger(__name__)


def total(order, tax=0.2):
    subtotal = sum(line.price * line.quantity for line in order.lines)
    if subtotal < 0:
        raise ValueError("negative order")
    return round(subtotal * (1 + tax), 2)


class Basket:
    def __init__(self, owner):
        self.owner = owner
        self.items = []

    def add(self, item, quantity=1):
        for _ in range(quantity):
            self.items.append(item)
        log.info("added %s", item)
'''


def src(rel: str, text: str = CODE, mtime: int = 0, language: str = "python") -> D.SourceFile:
    return D.SourceFile(rel, text, D.content_hash(text.encode()), mtime, language)


def layout(seq: int = 1024, repo_format: bool = True) -> D.Layout:
    return D.Layout(TEMPLATES["qwen"], "shop", repo_format, 0.3, seq)


def test_fim_samples_are_the_serving_prompt_for_that_cursor():
    """The same text the completion engine sends for a cursor at the span's start, with the span as the answer."""
    from growpilot.completion.context import CursorContext, completion_mode
    from growpilot.completion.engine import CompletionEngine, Workspace

    f = src("shop/orders.py")
    spans = D.fim_spans(f.text, 40, random.Random(3))
    assert {s.kind for s in spans} == {"span", "line", "block"}
    current = {}
    engine = CompletionEngine(None, None, lambda: current["settings"])
    for span in spans:
        sample = D.span_sample(f, span, layout(), count)
        assert sample is not None and sample.target == f.text[span.start:span.end] and sample.end
        room = 1024 - count(sample.target) - D.END_RESERVE
        prefix, suffix = f.text[:span.start], f.text[span.end:]
        current["settings"] = Settings(prompt_tokens=room, suffix_share=0.3, context_format="repo")
        ctx = CursorContext(f.rel, "python", prefix, suffix, prefix.count("\n"), completion_mode(prefix, suffix))
        backend = SimpleNamespace(template=TEMPLATES["qwen"], count_tokens=count)
        served = engine.build(Workspace("/somewhere/shop", None, None, None), ctx, backend, []).text
        assert sample.prompt == served
        head = "<|fim_prefix|><|repo_name|>shop\n<|file_sep|>shop/orders.py\n"
        assert sample.prompt.startswith(head) and sample.prompt.endswith("<|fim_middle|>")
        shown_prefix, shown_suffix = sample.prompt[len(head):-len("<|fim_middle|>")].split("<|fim_suffix|>")
        assert (shown_prefix + sample.target + shown_suffix) in f.text
    engine.shutdown()


def test_with_token_healing_samples_cut_where_the_engine_cuts():
    """Serving heals the prompt (it ends before the cursor line's last token, the answer spells it again):
    training samples are cut the same way, so the adapter learns the prompts it will be given."""
    import re

    from growpilot.completion.context import CursorContext, completion_mode
    from growpilot.completion.engine import CompletionEngine, Workspace
    from growpilot.models.healing import heal_split

    vocab: list[str] = []

    def encode(text):  # a toy byte-level-BPE-like split: a word keeps one leading space
        return [vocab.index(p) if p in vocab else vocab.append(p) or len(vocab) - 1
                for p in re.findall(r" ?\w+| ?[^\w\s]+|\s+", text)]

    def decode(ids):
        return "".join(vocab[i] for i in ids)

    f = src("shop/orders.py")
    heal = D.Layout(TEMPLATES["qwen"], "shop", True, 0.3, 1024, lambda line: heal_split(line, encode, decode))
    current = {}
    engine = CompletionEngine(None, None, lambda: current["settings"])
    backend = SimpleNamespace(template=TEMPLATES["qwen"], count_tokens=count, encode=encode, decode=decode)
    healed = 0
    for span in D.fim_spans(f.text, 40, random.Random(3)):
        sample = D.span_sample(f, span, heal, count)
        prefix, suffix = f.text[:span.start], f.text[span.end:]
        current["settings"] = Settings(prompt_tokens=1024 - count(sample.target) - D.END_RESERVE, suffix_share=0.3,
                                       retrieval_snippets=0)
        ctx = CursorContext(f.rel, "python", prefix, suffix, prefix.count("\n"), completion_mode(prefix, suffix))
        prompt, forced, _ = engine._prepare(Workspace("/somewhere/shop", None, None, None), ctx, backend)
        assert sample.prompt == prompt.text and sample.target == forced + f.text[span.start:span.end]
        healed += bool(forced)
    assert healed >= 5  # mid-line spans give up the last token of their line
    engine.shutdown()


def test_spans_are_mostly_inside_lines_and_blocks_are_statement_bodies():
    f = src("shop/orders.py")
    spans = D.fim_spans(f.text, 200, random.Random(1))
    inside = [s for s in spans if s.kind in ("span", "line")]
    assert len(inside) > 0.6 * len(spans)
    assert all("\n" not in f.text[s.start:s.end] for s in inside)
    for s in spans:
        middle = f.text[s.start:s.end]
        assert middle.strip() and middle == middle.rstrip("\n")
        if s.kind == "span":  # never cuts an identifier in two
            assert not (f.text[s.start - 1].isalnum() and f.text[s.start].isalnum())
    bodies = {f.text[s.start:s.end] for s in spans if s.kind == "block"}
    assert "self.owner = owner\n        self.items = []" in bodies
    assert all(not b.startswith(" ") for b in bodies)  # from the first line's indentation on


def test_families_without_fim_get_prefix_only_samples_ending_at_line_ends():
    f = src("shop/orders.py")
    plain = D.Layout(TEMPLATES["plain"], "shop", True, 0.3, 1024)
    fims = [D.span_sample(f, span, plain, count) for span in D.fim_spans(f.text, 60, random.Random(0), True)]
    assert D.file_samples(f, plain, count) and {s.kind for s in fims} == {"fim-span", "fim-line", "fim-block"}
    for s in fims:
        assert not s.end and "<|fim" not in s.prompt
        at = f.text.index(s.prompt + s.target) + len(s.prompt + s.target)
        assert f.text[at:at + 1] in ("\n", "")  # the text goes on after the line: no suffix to stop at


def test_long_files_are_windowed_to_the_training_length():
    text = "".join(f"value_{i} = compute({i}, {i * 7})\n" for i in range(400))
    wins = D.windows(text, 120, count)
    assert len(wins) > 10 and "".join(wins) == text
    assert all(sum(count(line + "\n") for line in w.rstrip("\n").split("\n")) <= 120 for w in wins)
    samples = D.file_samples(src("big.py", text), layout(seq=128), count)
    assert all(count(s.prompt) + count(s.target) <= 128 + 8 for s in samples)
    assert sum(s.kind == "plain" for s in samples) == len(D.windows(text, 128 - D.END_RESERVE, count))


def test_encoding_masks_the_prompt_and_appends_the_end_marker():
    encode = lambda text: [ord(c) for c in text]  # noqa: E731
    e = D.encode_sample(D.Sample("fim-line", "<pre>", "x = 1", True), encode, 9, 100)
    assert e.ids == encode("<pre>") + encode("x = 1") + [9]
    assert e.labels == [-100] * 5 + encode("x = 1") + [9] and e.targets == 6
    assert D.encode_sample(D.Sample("fim-line", "p" * 90, "x" * 20, True), encode, 9, 100) is None  # too long
    plain = D.encode_sample(D.Sample("plain", "", "y" * 300), encode, 9, 100)
    assert len(plain.ids) == 100 and plain.labels == plain.ids  # windows are cut, every token is a target


def test_dedup_by_content():
    a = D.Sample("fim-line", "p", "t", True, 1.0, "a.py")
    b = D.Sample("fim-span", "p", "t", True, 1.0, "b.py")  # same content from another file
    c = D.Sample("plain", "", "t")
    unique, dups = D.dedup([a, b, c, a])
    assert unique == [a, c] and dups == 2
    files, dup_files = D.dedup_files([src("a.py"), src("copy/a.py"), src("b.py", "x = 1\n")])
    assert [f.rel for f in files] == ["a.py", "b.py"] and dup_files == 1


def workspace_files(n: int) -> list[D.SourceFile]:
    return [src(f"pkg/m{i:02d}.py", CODE.replace("Orders", f"Module {i}"), mtime=i) for i in range(n)]


def test_heldout_is_the_most_recent_tenth_and_never_in_training():
    files = workspace_files(40) + [src("README.md", "# Shop\n" * 20, mtime=10**9, language="markdown")]
    files.append(src("pkg/copy_of_m39.py", files[39].text, mtime=1))  # same content as a held-out file
    split = D.split_heldout(files)
    assert sorted(split.heldout) == ["pkg/m36.py", "pkg/m37.py", "pkg/m38.py", "pkg/m39.py"]  # ~10%, code only
    assert "README.md" in split.train  # prose is trained on, never held out
    assert not set(split.heldout) & set(split.train) and "pkg/copy_of_m39.py" not in split.train
    by_rel = {f.rel: f for f in files}
    lay = layout()
    samples = [s for rel in split.train for s in D.file_samples(by_rel[rel], lay, count)]
    assert samples and not any("Module 3" + d in s.prompt + s.target for s in samples for d in "6789")


def test_heldout_split_is_reused_and_a_changed_file_leaves_it_without_joining_training():
    files = workspace_files(30)
    first = D.split_heldout(files)
    assert len(first.heldout) == 3
    newer = files + [src("pkg/new.py", CODE.replace("Orders", "New"), mtime=99)]
    again = D.split_heldout(newer, first.record())
    assert again.heldout == first.heldout and "pkg/new.py" in again.train  # remembered, not re-decided
    changed_rel = sorted(first.heldout)[0]
    edited = [src(f.rel, f.text + "\n# edited\n", f.mtime_ns) if f.rel == changed_rel else f for f in newer]
    third = D.split_heldout(edited, again.record())
    assert changed_rel not in third.heldout and changed_rel in third.retired and changed_rel not in third.train
    assert third.dropped == (changed_rel,) and len(third.heldout) == 3 and third.added  # topped up to the minimum
    assert changed_rel not in D.split_heldout(edited, third.record()).train  # and stays out


def test_too_little_code_to_hold_out_is_a_clear_error():
    with pytest.raises(TooLittleCode, match="too little code to hold out"):
        D.split_heldout(workspace_files(5))
    with pytest.raises(TooLittleCode, match="too little code"):  # tiny files cannot be held out
        D.split_heldout([src(f"m{i}.py", "x = 1\n", i) for i in range(20)])
    assert len(D.split_heldout(workspace_files(6)).train) == 3


def row(i: str, **kw) -> D.FeedbackRow:
    base = dict(id=i, created=time.time() - 3600, path="pkg/a.py", prompt=f"<|fim_prefix|>p{i}<|fim_suffix|><|fim_middle|>",
                output=f"value_{i} = 1", model="m", healed="", accepted=False, up=0, down=0)
    return D.FeedbackRow(**{**base, **kw})


def test_feedback_retained_and_liked_become_weighted_samples_and_thumbs_down_never():
    texts = {"pkg/a.py": "x = 0\nvalue_kept = 1\nvalue_liked = 1\n", "held/h.py": "value_held = 1\n"}
    rows = [row("kept", accepted=True), row("gone", accepted=True), row("fresh", accepted=True, created=time.time()),
            row("liked", up=1), row("disliked", accepted=True, down=1), row("both", up=1, down=1),
            row("held", accepted=True, path="held/h.py"), row("other", up=1, model="another-model"),
            row("ctx", up=1, prompt="<|fim_prefix|><|repo_name|>r\n<|file_sep|>held/h.py\nsecret<|file_sep|>pkg/a.py\n"),
            row("healed", up=1, healed="val", output="ue_healed = 2")]
    samples, counts = D.select_feedback(rows, texts, {"held/h.py"}, "m", time.time())
    got = {s.target: s.weight for s in samples}
    assert got == {"value_kept = 1": D.FEEDBACK_WEIGHT["retained"], "value_liked = 1": D.FEEDBACK_WEIGHT["up"],
                   "value_healed = 2": D.FEEDBACK_WEIGHT["up"]}
    assert all(s.kind == "feedback" and s.end and s.prompt.startswith("<|fim_prefix|>") for s in samples)
    assert counts["down_excluded"] == 2 and counts["not_retained"] == 1 and counts["pending"] == 1
    assert counts["heldout_excluded"] == 2 and counts["other_model"] == 1
    assert not any("disliked" in s.target or "both" in s.target for s in samples)


def test_loss_filter_and_eval_tasks():
    assert D.passes_loss_filter(2.9, 3.0) and not D.passes_loss_filter(3.1, 3.0)
    assert D.passes_loss_filter(50.0, 0.0)  # 0 turns it off
    files = workspace_files(4)
    tasks = D.eval_tasks(files, layout(), count, 20, 8, 12, seed=0)
    assert tasks.counts() == {"fim": 20, "next": 8, "line": 12}
    assert D.eval_tasks(files, layout(), count, 20, 8, 12, seed=0) == tasks  # the same samples every time
    for s in tasks.line:  # whole statement lines from their indentation, never comments
        assert s.target.strip() == s.target and not s.target.startswith("#") and "\n" not in s.target
    for s in tasks.next:
        assert s.prompt.endswith("\n") and not s.end
        assert any(s.prompt + s.target in f.text for f in files)


def test_length_batches_cut_padding_and_keep_every_sample():
    rng = random.Random(0)
    lengths = [rng.randint(10, 500) for _ in range(400)]
    batches = D.length_batches(lengths, 4, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(400))
    shuffled = list(range(400))
    random.Random(2).shuffle(shuffled)
    plain = [shuffled[i:i + 4] for i in range(0, 400, 4)]
    assert D.padding_share(batches, lengths) < 0.05 < D.padding_share(plain, lengths)


def test_manifest_hash_changes_with_content():
    a = {"files": {"used": 3}, "samples_hash": D.samples_hash([D.Sample("plain", "", "x")])}
    b = {**a, "samples_hash": D.samples_hash([D.Sample("plain", "", "y")])}
    assert D.manifest_hash(a) == D.manifest_hash(dict(reversed(list(a.items())))) != D.manifest_hash(b)
    assert re.fullmatch(r"[0-9a-f]{64}", D.manifest_hash(a))


def test_the_schedule_spans_the_steps_the_time_budget_reaches():
    from growpilot.training.modeling import Hyper
    from growpilot.training.trainer import Trainer, schedule_horizon

    # 30 minutes at 110 s a step reach 16 of 200 steps; unknown speed keeps the step budget.
    assert schedule_horizon(200, 0, 1800, 110.0) == 16
    assert schedule_horizon(200, 0, 1800, None) == 200
    assert schedule_horizon(200, 5, 3600 * 10, 1.0) == 200
    assert schedule_horizon(200, 9, 0, 110.0) == 10  # out of time: the step under way is the last
    hyper = Hyper(lr=1e-3, warmup=20, min_lr_share=0.1)
    lrs = [Trainer.lr_at(s, 16, hyper) for s in range(16)]
    assert lrs[0] == pytest.approx(1e-3)  # a warmup of one step, not 20 that the run never finishes
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] < 0.2e-3  # decayed near its floor by the last step the budget allows
    assert Trainer.lr_at(20, 16, hyper) == pytest.approx(0.1e-3)  # past the horizon: the floor
    assert Trainer.lr_at(0, 200, hyper) == pytest.approx(1e-3 / 20)
