"""A tiny causal LM for fast protocol tests: byte-level BPE + 2-layer Llama, trained for a few seconds
on the fixture workspace so greedy decoding yields workspace-like text. Never a stand-in for the real
model in tests that claim completions are good."""

from __future__ import annotations

from pathlib import Path

FIM_TOKENS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>", "<|endoftext|>"]


def build_tiny_model(out: Path, texts: list[str], steps: int = 150) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=600, min_frequency=1, special_tokens=FIM_TOKENS)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>", additional_special_tokens=FIM_TOKENS[:-1])
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                         eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(config)
    # The raw files, then fill-in-the-middle samples of them as the engine lays prompts out, so that
    # what follows `<|fim_middle|>` is workspace text whatever the prompt's layout (not an accident of
    # untrained embeddings, which flipped to empty completions when the layout changed).
    corpus = "\n".join(texts) * 2 + "".join(_fim_samples(texts))
    ids = torch.tensor(tok.encode(corpus)[:8192])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        start = (step * 197) % max(1, len(ids) - 129)
        batch = ids[start:start + 128].unsqueeze(0)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _fim_samples(texts: list[str]) -> list[str]:
    """`<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>…` cut in a few lines of each text, the middle
    being the text from the cut on (no end marker: a tiny model would learn to stop at once)."""
    out = []
    for text in texts:
        lines = text.split("\n")
        for i in range(1, len(lines), 3):
            cut = len(lines[i]) // 2
            prefix = "\n".join(lines[:i] + [lines[i][:cut]])[-300:]
            suffix = "\n".join(lines[i + 1:])[:200]
            rest = "\n".join([lines[i][cut:]] + lines[i + 1:])
            out.append(f"<|fim_prefix|>{prefix}<|fim_suffix|>\n{suffix}<|fim_middle|>{rest[:300]}\n")
    return out
