"""Write tiny but real GGUF models with the ``gguf`` package, for tests.

The model is a 2-layer llama with random weights and a byte-level SentencePiece
vocabulary: llama.cpp loads and runs it like any other GGUF, in milliseconds.
Its output is noise; tests use it to show that loading works for any GGUF,
not to judge replies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_tiny_llama(
    path: Path,
    *,
    embed: int = 64,
    layers: int = 2,
    heads: int = 4,
    ff: int = 128,
    context: int = 512,
    chat_template: str | None = CHATML,
    seed: int = 0,
) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>", b"<|im_start|>", b"<|im_end|>"]
    types = [2, 3, 3, 4, 4]  # unknown, control, control, user-defined x2
    tokens += [f"<0x{b:02X}>".encode() for b in range(256)]
    types += [6] * 256  # byte tokens
    words = [
        "\u2581" + w
        for w in ["the", "a", "of", "and", "to", "is", "in", "you", "I", "it", "hello", "world"]
    ]
    words += [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["\u2581"]
    tokens += [w.encode() for w in words]
    types += [1] * len(words)
    scores = [0.0] * len(tokens)
    vocab = len(tokens)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_context_length(context)
    writer.add_embedding_length(embed)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(embed // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    def tensor(name: str, *shape: int) -> None:
        data = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        writer.add_tensor(name, data)

    tensor("token_embd.weight", vocab, embed)
    writer.add_tensor("output_norm.weight", np.ones(embed, dtype=np.float32))
    tensor("output.weight", vocab, embed)
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(embed, dtype=np.float32))
        tensor(f"blk.{i}.attn_q.weight", embed, embed)
        tensor(f"blk.{i}.attn_k.weight", embed, embed)
        tensor(f"blk.{i}.attn_v.weight", embed, embed)
        tensor(f"blk.{i}.attn_output.weight", embed, embed)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(embed, dtype=np.float32))
        tensor(f"blk.{i}.ffn_gate.weight", ff, embed)
        tensor(f"blk.{i}.ffn_up.weight", ff, embed)
        tensor(f"blk.{i}.ffn_down.weight", embed, ff)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
