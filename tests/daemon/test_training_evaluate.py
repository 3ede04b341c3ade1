"""The evaluator's figures against first principles, on the tiny model (which has memorised the LSP
fixture files, so some of their lines are reproduced exactly)."""

from __future__ import annotations

import math

import pytest

from growpilot.training import data as D
from growpilot.training.evaluate import Evaluator, sanity_files
from lsp_fixtures import LSP_FILES


@pytest.fixture(scope="module")
def evaluator(tiny_model):
    from growpilot.training.modeling import load_base

    base = load_base(tiny_model, "cpu", 0)
    layout = D.Layout(base.template, "ws", False, 0.3, 256)  # the layout the tiny model was trained on
    return Evaluator(base, layout, 4)


def fixture_files() -> list[D.SourceFile]:
    return [D.SourceFile(rel, text, D.content_hash(text.encode()), 0, "python") for rel, text in LSP_FILES.items()]


def greedy(base, ids: list[int], n: int) -> list[int]:
    """Plain greedy decoding of `n` tokens with the model's own forward and KV cache."""
    import torch

    out = []
    with torch.inference_mode():
        step = base.model(input_ids=torch.tensor([ids]), use_cache=True)
        for _ in range(n):
            token = int(step.logits[0, -1].argmax())
            out.append(token)
            step = base.model(input_ids=torch.tensor([[token]]), past_key_values=step.past_key_values, use_cache=True)
    return out


def test_exact_match_is_what_greedy_decoding_produces(evaluator):
    """Teacher-forced exact match (one pass) against real greedy decoding, on the fixture's statement
    lines and on the lines the model itself writes for the same prompts (which it must match)."""
    from growpilot.training.modeling import line_end_ids

    base = evaluator.base
    tasks = D.eval_tasks(fixture_files(), evaluator.layout, base.count, 0, 0, 30, seed=1).line
    ends = line_end_ids(base.tokenizer, base.template)
    encoded, expected, own = [], 0, 0
    for e in evaluator.encode(tasks):
        prompt = [i for i, label in zip(e.ids, e.labels) if label == -100]
        target = e.ids[len(prompt):]
        line = greedy(base, prompt, max(len(target) + 1, 16))
        expected += line[:len(target)] == target and line[len(target)] in ends
        encoded.append(e)
        cut = next((k for k, t in enumerate(line) if t in ends), None)
        if cut:  # the model's own line for this prompt, then a line end: greedy reproduces it by definition
            encoded.append(D.Encoded(prompt + line[:cut], [-100] * len(prompt) + line[:cut], 1.0, "own"))
            own += 1
    assert len(tasks) >= 10 and own >= 3
    got = evaluator.scores(encoded, exact=True)
    assert got["hits"] == expected + own and got["n"] == len(encoded)


def test_nll_is_the_mean_over_target_tokens(evaluator):
    import torch

    base = evaluator.base
    tasks = D.eval_tasks(fixture_files(), evaluator.layout, base.count, 6, 4, 0, seed=2)
    encoded = evaluator.encode(tasks.fim + tasks.next)
    total = tokens = 0.0
    with torch.inference_mode():
        for e in encoded:  # one sequence at a time, the model's own forward: no padding, full logits
            logits = base.model(input_ids=torch.tensor([e.ids])).logits[0, :-1].float()
            labels = torch.tensor(e.labels[1:])
            keep = labels != -100
            total += float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))
            tokens += int(keep.sum())
    got = evaluator.scores(encoded)
    assert got["tokens"] == tokens
    assert got["nll"] / got["tokens"] == pytest.approx(total / tokens, rel=2e-2)  # bf16, batched with padding


def test_the_sanity_set_is_shipped_and_evaluable(evaluator):
    files = sanity_files()
    assert len(files) >= 4 and sum(f.text.count("\n") for f in files) >= 300
    tasks = D.eval_tasks(files, evaluator.layout, evaluator.base.count, 16, 8, 0)
    assert len(tasks.fim) >= 14 and len(tasks.next) == 8
    nll = evaluator.scores(evaluator.encode(tasks.fim + tasks.next))
    assert math.isfinite(nll["nll"]) and nll["tokens"] > 50
