"""The paper's extraction prompt (Listings 1 and 2), adapted to ask for one JSON object.

The paper's numbered items (1)-(5) are kept word for word and the JSON keys are named after them
in a separate sentence: with SmolLM2-135M, putting each instruction next to its key
(`"label_long": a long label ...`) made the model copy the instruction into the value, and
numbering the keys made it answer "1", "2".

Every engine builds its chat messages here, so the same record gets the same prompt whether it is
answered by transformers, vLLM or read back from a previous build. `PROMPT_VERSION` hashes the
prompt texts, the field schema and the input cap: any change to what the model is asked changes
the version recorded with each sample.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from ilid_ray.dataset.extract.schema import FIELD_SPECS, schema_json

# Crawled data blocks can run to pages of text; the paper's prompt takes them whole. The cap keeps
# the prompt (and the cost of a batch, padded to its longest prompt) bounded; the leading blocks
# (description, material, finish) are what the fields come from.
MAX_LABEL_CHARS = 300
MAX_DATA_CHARS = 1500
TRUNCATION_MARK = " ..."

SYSTEM_PROMPT = (
    "You are a helpful assistant for a company that sells industrial products.\n"
    "Do not ask for further details or state additional questions.\n"
    "Do not add additional information or details that are not given by the user.\n"
    "Answer with one JSON object and nothing else."
)

USER_TEMPLATE = (
    "Summarize\n"
    "'Label: {label}\n"
    "Text: {data}'\n"
    "returning the following information:\n"
    "{fields}\n"
    "Answer with a JSON object with exactly these keys, in this order: {keys}. "
    "Use null for information that the text does not give."
)


def field_lines() -> str:
    """Listing 2's numbered items, one per line."""
    return "\n".join(f"({number}) {spec.instruction}" for number, spec in enumerate(FIELD_SPECS, start=1))


def key_list() -> str:
    return ", ".join(f'"{spec.name}"' for spec in FIELD_SPECS)


def prompt_literals() -> list[str]:
    """Every fixed text the model is shown (not the record): what an answer must not parrot back."""
    template = USER_TEMPLATE.replace("{label}", " ").replace("{data}", " ").replace("{fields}", field_lines())
    return [SYSTEM_PROMPT, template.replace("{keys}", key_list())]


def cap_text(text: str, max_chars: int) -> str:
    """Cut `text` to at most `max_chars` characters at a word boundary, marking the cut."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - len(TRUNCATION_MARK)]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;") + TRUNCATION_MARK


def join_data(data: Iterable[str] | None) -> str:
    """The paper joins a record's text blocks with ", "."""
    return ", ".join(block.strip() for block in (data or []) if block and block.strip())


def build_user_prompt(label: str, data: Iterable[str] | None) -> str:
    return USER_TEMPLATE.format(label=cap_text((label or "").strip(), MAX_LABEL_CHARS),
                                data=cap_text(join_data(data), MAX_DATA_CHARS), fields=field_lines(),
                                keys=key_list())


def build_messages(label: str, data: Iterable[str] | None) -> list[dict[str, str]]:
    """Chat messages (system + user) for one record."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_user_prompt(label, data)}]


def prompt_version() -> str:
    material = "\x00".join([SYSTEM_PROMPT, USER_TEMPLATE, field_lines(), key_list(), schema_json(),
                            f"{MAX_LABEL_CHARS}/{MAX_DATA_CHARS}{TRUNCATION_MARK}"])
    return "ilid-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


PROMPT_VERSION = prompt_version()
