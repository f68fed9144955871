"""Tiny Hugging Face models built in the test (random weights, a byte-level BPE tokenizer trained
on a few strings, a chat template): the real transformers code paths, nothing downloaded."""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "The answer is 72. Step 1: 48 / 2 = 24. Step 2: 48 + 24 = 72.",
    "Solve the following math word problem. Reason step by step.",
] * 4


def build_tokenizer(path: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<pad>", "<eos>", "<extra_0>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   additional_special_tokens=["<extra_0>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    return fast


def _config(tok, num_labels: int):
    from transformers import LlamaConfig

    # head_dim 64 (hidden 64, one head): vLLM's CPU attention has no kernel for tiny head sizes
    return LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512, initializer_range=0.3,
                       num_labels=num_labels, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       bos_token_id=None)


def build_sequence_classifier(path: Path, num_labels: int = 1, seed: int = 0) -> Path:
    """A LlamaForSequenceClassification (random weights) and its tokenizer saved in ``path``."""
    import torch
    from transformers import LlamaForSequenceClassification

    tok = build_tokenizer(path)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(_config(tok, num_labels)).eval()
    model.save_pretrained(path)
    return path


def build_token_classifier(path: Path, seed: int = 0) -> Path:
    """A LlamaForTokenClassification with 2 labels (a PRM's shape) saved in ``path``."""
    import torch
    from transformers import LlamaForTokenClassification

    tok = build_tokenizer(path)
    torch.manual_seed(seed)
    model = LlamaForTokenClassification(_config(tok, 2)).eval()
    model.save_pretrained(path)
    return path
