"""Token healing: the prompt gives up its last token and the model must spell it again."""

import pytest

from growpilot.completion.context import stop_rule
from growpilot.models.healing import TokenTexts, consume, heal_split

VOCAB = ["", " ", " b", " ba", " base", " base64", " bad", "a", "se", "x", " =", "\ufffd", " in", " int"]


def test_allowed_tokens_spell_the_removed_text_or_extend_it():
    texts = TokenTexts(VOCAB)
    allowed = {VOCAB[i] for i in texts.allowed(" ba")}
    assert allowed == {" ", " b", " ba", " base", " base64", " bad"}
    assert {VOCAB[i] for i in texts.allowed(" in")} == {" ", " in", " int"}
    assert texts.allowed("") == [] and texts.allowed("zz") == []


def test_whitespace_to_spell_is_never_extended():
    vocab = ["", " ", "  ", "   ", "    ", "     ", " raise", "  raise", " x", "\n"]
    texts = TokenTexts(vocab)
    # A statement's first token after indentation carries its last space; the indentation never grows.
    assert {vocab[i] for i in texts.allowed(" ")} == {" raise", " x"}
    assert {vocab[i] for i in texts.allowed("    ")} == {" ", "  ", "   "}  # then " raise" or " x"


def test_consume_walks_through_the_forced_text():
    assert consume(" ba", " b") == "a"
    assert consume("a", "a") == "" and consume(" ba", " base64") == ""


def _fake_tokenizer():
    table = {" ba": 1, "x": 2, " =": 3, "    ": 4, "(": 5}

    def encode(text):
        ids, i = [], 0
        while i < len(text):
            for piece, tid in sorted(table.items(), key=lambda kv: -len(kv[0])):
                if text.startswith(piece, i):
                    ids.append(tid)
                    i += len(piece)
                    break
            else:
                ids.append(100 + ord(text[i]))
                i += 1
        return ids

    back = {v: k for k, v in table.items()}
    return encode, lambda ids: "".join(back[i] if i in back else chr(i - 100) for i in ids)


def test_heal_split_takes_the_last_token_of_the_line_indentation_too():
    encode, decode = _fake_tokenizer()
    assert heal_split("x = ba", encode, decode) == " ba"
    assert heal_split("x =(", encode, decode) == "("
    assert heal_split("    ", encode, decode) == " "  # indentation: its last character (healing.py)
    assert heal_split("\t\t", encode, decode) == "\t"
    assert heal_split("", encode, decode) == ""


@pytest.fixture(scope="module")
def backend(tiny_model):
    from growpilot.models.backend import TransformersBackend
    from growpilot.models.provision import LMSource

    return TransformersBackend(LMSource("tiny", tiny_model))


def test_forced_generation_starts_with_the_forced_text(backend):
    prompt = backend.template.render("def refresh_widget(widget):\n    return", "\n", [], "app.py", "ws")
    free = backend.generate(prompt, 6, stop_rule("line", "x"))
    # Whatever the model prefers, a forced text it does not start with is produced first.
    forced = " zq" if not free.text.startswith(" zq") else " qz"
    healed = backend.generate(prompt, 6, stop_rule("line", "x"), forced=forced)
    assert healed.text.startswith(forced), healed.text


def test_word_tasks_are_code_identifiers_never_comments_or_strings():
    from growpilot.eval.midword import completes, word_tasks

    files = {"a.py": 'import os\n\n# frobnicate everything\nvalue = compute_total(items)  # trailing remark\n'
                     'label = "not_a_name here"\n'}
    tasks = word_tasks(files, 10)
    assert {t.word for t in tasks} <= {"value", "compute_total", "items", "label"} and tasks
    for t in tasks:
        assert files["a.py"].split("\n")[t.line][t.column:].startswith(t.word)
    assert completes("compute_total", 2, "mpute_total(items)")
    assert not completes("compute_total", 2, "mpute_totals")
    assert not completes("compute_total", 0, "x")


def test_midword_eval_runs_end_to_end_with_the_tiny_model(workspace, tiny_model):
    from conftest import write_files
    from growpilot.config import Settings
    from growpilot.eval.midword import run
    from growpilot.server.services import Services
    from lsp_fixtures import LSP_FILES

    write_files(workspace, LSP_FILES)
    settings = Settings(model_path=str(tiny_model), max_tokens=8)
    services = Services(settings)
    try:
        services.model.load(settings)
        result = run(services, str(workspace), limit=3)
    finally:
        services.close()
    assert result["tasks"] == 3
    for label in ("healed", "healed_fresh", "raw"):
        assert set(result[label]) == {"typed_0", "typed_1", "typed_2", "typed_3", "typed_1_to_3"}
        assert result[label]["typed_1_to_3"]["n"] == 9
