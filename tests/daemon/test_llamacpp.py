"""The llama.cpp backend on the real default GGUF (Qwen2.5-Coder-0.5B Q4_K_M, loads in seconds): the
same interface and behaviour as the transformers backend — FIM output cut by the stop rule, cancel,
KV-cache reuse that changes nothing, token healing, teacher-forced scoring, and a LoRA adapter that
changes what it says."""

import threading
import time

import pytest

from growpilot.completion.context import stop_rule
from growpilot.models.healing import heal_split
from growpilot.models.provision import resolve_lm

llamacpp = pytest.importorskip("growpilot.models.llamacpp")
if not llamacpp.available():
    pytest.skip("llama-cpp-python is not installed (scripts/setup.sh builds it)", allow_module_level=True)

pytestmark = pytest.mark.slow

CODE = '''import base64
import hashlib


def digest(data: bytes) -> str:
    """The sha256 of data, hex."""
    return hashlib.sha256(data).hexdigest()


def encode_token(raw: bytes) -> str:
    """raw as URL-safe base64 text."""
'''
SUFFIX = "\n\n\ndef decode_token(text: str) -> bytes:\n    return base64.urlsafe_b64decode(text)\n"


def fim(prefix: str, suffix: str = SUFFIX) -> str:
    return f"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"


@pytest.fixture(scope="module")
def source():
    return resolve_lm("")


@pytest.fixture(scope="module")
def backend(source):
    b = llamacpp.LlamaCppBackend(source, threads=0)
    yield b
    b.close()


def test_loads_the_shipped_gguf_and_tokenizes_like_the_hf_tokenizer(backend, source):
    from transformers import AutoTokenizer

    assert backend.kind == "llama.cpp" and backend.dtype == "q4_k_m" and backend.device == "cpu"
    assert backend.template.family == "qwen"
    assert backend.load_seconds < 60
    hf = AutoTokenizer.from_pretrained(source.folder)
    prompt = fim(CODE + "    return ")
    ids = backend.encode(prompt)
    assert ids == hf.encode(prompt, add_special_tokens=False)
    assert ids[0] == hf.convert_tokens_to_ids("<|fim_prefix|>")  # a special token in the text is one token
    assert backend.count_tokens(prompt) == len(ids)
    assert backend.decode(ids) == prompt
    # Each token's own text, for healing, as the HF tokenizer decodes it alone (special tokens: "").
    sample = list(range(0, len(hf), 997)) + [hf.convert_tokens_to_ids("<|fim_prefix|>")]
    assert [backend.token_texts[i] for i in sample] == hf.batch_decode([[i] for i in sample], skip_special_tokens=True)


def test_fim_completion_is_a_line_cut_by_the_stop_rule(backend):
    prefix = CODE + "    return "
    gen = backend.generate(fim(prefix), 48, stop_rule("line", prefix))
    assert gen.stop_reason in ("stop", "eos") and gen.tokens > 0
    assert gen.text.strip() and "\n" not in gen.text
    assert "base64" in gen.text, gen.text  # the model completes from the imports: a sanity check of the weights
    assert gen.prompt_tokens == len(backend.encode(fim(prefix))) and gen.prefill_ms > 0


def test_cache_reuse_gives_the_cold_answer(backend):
    """Typing along a line: each request shares all but the tail of the prompt with the previous one;
    with the cache on it feeds only that tail, and says exactly what a cold run says."""
    line = "    return base64.urlsafe_b64encode(raw).decode()"
    head = CODE + line[:len("    return ")]
    steps = [head + line[len("    return "):n] for n in range(len("    return ") + 3, len(line), 7)]
    warm, previous = [], []
    backend.forget_cache()
    for prefix in steps:
        ids = backend.encode(fim(prefix))
        gen = backend.generate(ids, 24, stop_rule("line", prefix))
        warm.append((gen.text, gen.reused_tokens, gen.prompt_tokens))
        # The prompt up to the edit is reused, less at most ALIGN-1 tokens (see `_reuse`); in this FIM
        # order what follows the edit is not: the suffix.
        shared = next((i for i, (a, b) in enumerate(zip(previous, ids)) if a != b), min(len(previous), len(ids)))
        assert shared - llamacpp.ALIGN < gen.reused_tokens <= shared and (gen.reused_tokens > 0) == bool(previous)
        previous = ids
    for prefix, (text, _, _) in zip(steps, warm):
        backend.forget_cache()
        cold = backend.generate(fim(prefix), 24, stop_rule("line", prefix))
        assert cold.reused_tokens == 0
        assert cold.text == text, prefix


def test_cancel_stops_prefill_and_decode_and_keeps_the_cache_sound(backend):
    prompt = fim(CODE * 7 + "    return ")  # ~1000 tokens: seconds of prefill on two cores
    backend.forget_cache()
    expected = backend.generate(prompt, 8)
    chunk_ms = expected.prefill_ms * llamacpp.PREFILL_CHUNK / expected.prompt_tokens

    backend.forget_cache()
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    started = time.perf_counter()
    gen = backend.generate(prompt, 8, cancel=cancel)
    assert gen.stop_reason == "cancelled" and gen.text == ""
    assert (time.perf_counter() - started) * 1000 - 50 < chunk_ms, (gen.prefill_ms, chunk_ms)

    # Cancelled before it starts: at once.
    started = time.perf_counter()
    assert backend.generate(prompt, 8, cancel=cancel).stop_reason == "cancelled"
    assert time.perf_counter() - started < 0.2

    # In decode: the cancel is seen before the next token.
    after_first = threading.Event()

    def cancel_after_first_token(text: str):
        after_first.set()  # as a newer keystroke would, while the first token is being read
        return None

    gen = backend.generate(prompt, 32, cancel_after_first_token, cancel=after_first)
    assert gen.stop_reason == "cancelled" and gen.tokens == 1

    # Whatever an abort left in the cache, the next answer is the cold one.
    assert backend.generate(prompt, 8).text == expected.text


def test_forced_text_is_produced_first_however_it_splits(backend):
    line_prefix = "    return base64.urlsafe_b6"
    forced = heal_split(line_prefix, backend.encode, backend.decode)
    assert forced and line_prefix.endswith(forced)
    prefix = CODE + line_prefix[:-len(forced)]
    gen = backend.generate(fim(prefix), 24, stop_rule("line", prefix), forced=forced)
    assert gen.text.startswith(forced), (forced, gen.text)
    assert gen.text.startswith(forced + "4") or gen.text[len(forced):].startswith("4"), gen.text


def test_score_is_teacher_forced_nll_and_exact_greedy_match(backend):
    prefix = CODE + "    return "
    context = backend.encode(fim(prefix))
    gen = backend.generate(context, 12)
    greedy = backend.encode(gen.text)
    nll, exact = backend.score(context, greedy)
    assert exact and 0 <= nll < 2.0
    other = backend.encode(" hashlib.md5(raw).hexdigest()")
    nll_other, exact_other = backend.score(context, other)
    assert not exact_other and nll_other > nll
    # Scoring left the cache holding the context: a generation after it reuses nearly all of it (the
    # last 8-11 tokens are fed again, as `_reuse` says why).
    again = backend.generate(context, 12)
    assert again.text == gen.text and len(context) - 12 < again.reused_tokens <= len(context) - 8


ALIGN_SPAN = 8  # two of llamacpp.ALIGN's cycles


def test_logits_do_not_depend_on_what_the_cache_held(backend):
    """Bit for bit: the same prompt scored cold, after a prompt sharing most of it, and after itself."""
    context = backend.encode(fim(CODE + "    return base64.urlsafe_b64"))
    target = backend.encode("encode(raw).decode()\n")
    backend.forget_cache()
    cold = backend.score(context, target)
    for before in (fim(CODE + "    return base"), fim(CODE + "    return base64.urlsafe_b64decode("), CODE[:200]):
        backend.forget_cache()
        backend.generate(before, 3)
        assert backend.score(context, target) == cold, before
    assert backend.score(context, target) == cold  # the context itself cached


def test_one_context_scored_against_several_targets_at_every_length(backend):
    """eval memory scores two continuations after each prompt: at some context lengths the cache kept
    positions beyond where the prefill resumed, and llama_decode failed (X = 987, Y = 984)."""
    full = backend.encode(fim(CODE + "    return base64.urlsafe_b64"))
    for n in range(len(full) - 2 * ALIGN_SPAN, len(full) + 1):
        context = full[:n]
        backend.forget_cache()
        cold = [backend.score(context, backend.encode(t)) for t in ("encode(raw)", "decode(")]
        assert [backend.score(context, backend.encode(t)) for t in ("encode(raw)", "decode(")] == cold, n


@pytest.fixture(scope="module")
def adapter_dir(source, tmp_path_factory):
    """A random LoRA (r=8 on q/v) made with peft on the default model, as training saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(source.folder, dtype=torch.bfloat16)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft = get_peft_model(model, config)
    out = tmp_path_factory.mktemp("adapter") / "v1"
    peft.save_pretrained(out)
    return out


def test_a_lora_adapter_changes_the_output_and_switches_off(backend, source, adapter_dir):
    prefix = CODE + "    return "
    prompt = backend.encode(fim(prefix))
    base = backend.generate(prompt, 16)
    base_nll, _ = backend.score(prompt, backend.encode(base.text))

    tuned = backend.generate(prompt, 16, adapter=adapter_dir)
    assert backend.adapter == str(adapter_dir)
    tuned_nll, tuned_exact = backend.score(prompt, backend.encode(base.text), adapter=adapter_dir)
    assert tuned.text != base.text, tuned.text
    assert not tuned_exact and tuned_nll > base_nll + 0.5, (base_nll, tuned_nll)
    assert tuned.reused_tokens == 0  # the base model's cache is no good to the adapter

    # Back to the base model: its own answer again; the conversion is cached by content.
    assert backend.generate(prompt, 16).text == base.text and backend.adapter is None
    started = time.perf_counter()
    assert llamacpp.convert_adapter(adapter_dir, source.folder).exists()
    assert time.perf_counter() - started < 1.0


def test_a_bad_adapter_folder_is_a_clear_error(backend, tmp_path):
    from growpilot.models.provision import ModelError

    with pytest.raises(ModelError, match="not a peft adapter folder"):
        backend.generate(backend.encode("x = "), 2, adapter=tmp_path)
    assert backend.generate(backend.encode("x = "), 2).stop_reason in ("max_tokens", "eos", "stop")
