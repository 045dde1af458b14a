"""The prompt of the local tone model, built the same way for training and for inference.

The system prompt is a one-line instruction, not the style guide: the LoRA adapter learned the
voice from the pairs, and every prompt token is paid for on each reply (prefill on 2 CPU cores
is ~3 ms a token). Changing this text changes what the adapter was trained on: retrain after.
"""

from __future__ import annotations

SYSTEM_PROMPT = ("Rewrite the answer in our friendly voice: a short opener, \"you\", contractions, "
                 "a short closer. Keep every fact, name, number, link and [n] marker.")
END_OF_TURN = "<|im_end|>"


def messages(draft: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": draft}]


def prompt_text(tokenizer, draft: str) -> str:
    """The chat-formatted prompt up to and including the assistant header."""
    return tokenizer.apply_chat_template(messages(draft), tokenize=False,
                                         add_generation_prompt=True)


def prompt_ids(tokenizer, draft: str) -> list[int]:
    return tokenizer(prompt_text(tokenizer, draft), add_special_tokens=False)["input_ids"]


def training_example(tokenizer, draft: str, on_brand: str) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the loss is on the reply and its end-of-turn token only."""
    prompt = prompt_ids(tokenizer, draft)
    reply = tokenizer(on_brand + END_OF_TURN, add_special_tokens=False)["input_ids"]
    return prompt + reply, [-100] * len(prompt) + reply


def end_of_turn_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(END_OF_TURN)
