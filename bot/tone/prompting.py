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


def chat_prompt(draft: str) -> str:
    """`prompt_text` without a transformers tokenizer: SmolLM2's ChatML template, written out
    (tests/tone/test_genai.py checks that the two agree)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}{END_OF_TURN}\n"
                   for m in messages(draft)) + "<|im_start|>assistant\n"


def follow_table(source_ids: list[int], n: int = 2) -> dict[tuple[int, ...], set[int]]:
    """For the copy bias: each run of `n` draft tokens -> the tokens that follow it in the draft."""
    follows: dict[tuple[int, ...], set[int]] = {}
    for i in range(len(source_ids) - n):
        follows.setdefault(tuple(source_ids[i:i + n]), set()).add(source_ids[i + n])
    return follows


def prompt_ids(tokenizer, draft: str) -> list[int]:
    return tokenizer(prompt_text(tokenizer, draft), add_special_tokens=False)["input_ids"]


def training_example(tokenizer, draft: str, on_brand: str) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the loss is on the reply and its end-of-turn token only."""
    prompt = prompt_ids(tokenizer, draft)
    reply = tokenizer(on_brand + END_OF_TURN, add_special_tokens=False)["input_ids"]
    return prompt + reply, [-100] * len(prompt) + reply


def end_of_turn_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(END_OF_TURN)
