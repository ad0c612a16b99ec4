"""Wan's prompt path: clean the text as Wan does (ftfy, HTML entities, whitespace), tokenize to
512 UMT5 tokens, keep the encoder's last hidden state for the real tokens and zero the rest
(what diffusers' Wan pipelines pass the transformer)."""
from __future__ import annotations

import html
import re
from typing import Any

import torch

MAX_TOKENS = 512


def clean_prompt(text: str) -> str:
    import ftfy  # a hard dependency of the Wan pipelines (requirements.txt)

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


@torch.no_grad()
def encode_prompt(prompt: str, tokenizer: Any, text_encoder: Any, device: torch.device | str,
                  max_tokens: int = MAX_TOKENS) -> torch.Tensor:
    """(1, max_tokens, D) UMT5 embeddings: real tokens first, zeros after them."""
    inputs = tokenizer([clean_prompt(prompt)], padding="max_length", max_length=max_tokens, truncation=True,
                       add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
    hidden = text_encoder(ids, mask).last_hidden_state
    length = int(mask.gt(0).sum())
    out = torch.zeros_like(hidden)
    out[:, :length] = hidden[:, :length]
    return out
