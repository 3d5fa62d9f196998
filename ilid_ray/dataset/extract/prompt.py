"""The paper's extraction prompt (Listings 1 and 2), adapted to ask for one JSON object.

The paper's numbered items (1)-(5) are kept word for word, in the system message (said once for
every record and example, see few-shot below), and the JSON keys are named after them in a
separate sentence: with SmolLM2-135M, putting each instruction next to its key
(`"label_long": a long label ...`) made the model copy the instruction into the value, and
numbering the keys made it answer "1", "2".

Few-shot: two worked examples (records as the pre-filter leaves them, answers as the paper wants
them: no codes or sizes, the short label the product's head noun phrase) go between the system
prompt and the record, as earlier chat turns. They are the same for every record, so all prompts
share one prefix, which vLLM's prefix caching computes once (`vllm_engine.engine_kwargs`). The
examples are products the gold set does not contain (gas spring, castor), so they teach the form,
not the answers; their labels use only their titles' words, as the grammar will require
(`schema.record_schema`).

Hints: material and finish that the page states in its structured fields (`hints.page_hints`)
are named in a line of their own; the row update then takes them from the markup.

Every engine builds its chat messages here, so the same record gets the same prompt whether it is
answered by transformers, vLLM or read back from a previous build. `PROMPT_VERSION` hashes the
prompt texts, the field schema and the input cap: any change to what the model is asked changes
the version recorded with each sample.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable

from ilid_ray.dataset.extract.hints import LABEL_WORDS_VERSION, page_hints
from ilid_ray.dataset.extract.schema import FIELD_SPECS, GENERATION_ORDER, schema_json

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
    "Answer with one JSON object and nothing else.\n"
    "For each product the user gives, return the following information:\n"
    "{fields}\n"
    "Answer with a JSON object with exactly these keys, in this order: {keys}. "
    "Use null for information that the text does not give."
)

USER_TEMPLATE = (
    "Summarize\n"
    "'Label: {label}\n"
    "Text: {data}'"
)
HINTS_TEMPLATE = "The page's product data gives: {hints}."
HINT_NAMES = {"material": "material", "material_finish": "finish"}

# (label, text blocks, answer): records as the pre-filter leaves them (digits and trade names gone).
FEW_SHOT = (
    ("Gas spring N stroke mm, steel black, GS--",
     ["Gas spring with ball sockets for lids, flaps and hoods.", "Material: steel", "Finish: black powder-coated",
      "Stroke: mm"],
     {"label_long": "steel gas spring", "label_short": "gas spring",
      "description": "Gas spring with ball sockets for lids, flaps and hoods",
      "material": "steel", "material_finish": "black powder-coated"}),
    ("Swivel Castor with Brake Ø mm, Polyamide Wheel | KRL -",
     ["Swivel castor with total brake for trolleys and racks, load capacity kg.",
      "The wheel is made of white polyamide, the housing of zinc plated steel."],
     {"label_long": "polyamide swivel castor with brake", "label_short": "swivel castor",
      "description": "Swivel castor with total brake for trolleys and racks",
      "material": "polyamide", "material_finish": "white"}),
)


def field_lines() -> str:
    """Listing 2's numbered items, one per line."""
    return "\n".join(f"({number}) {spec.instruction}" for number, spec in enumerate(FIELD_SPECS, start=1))


def key_list() -> str:
    """The keys in the order the grammar generates them (`schema.GENERATION_ORDER`)."""
    return ", ".join(f'"{name}"' for name in GENERATION_ORDER)


def prompt_literals() -> list[str]:
    """Every fixed text the model is shown (not the record): what an answer must not parrot back."""
    examples = [" ".join([label, *data, *(v for v in answer.values() if v)]) for label, data, answer in FEW_SHOT]
    return [system_prompt(), USER_TEMPLATE.replace("{label}", " ").replace("{data}", " "), *examples]


def system_prompt() -> str:
    return SYSTEM_PROMPT.format(fields=field_lines(), keys=key_list())


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


def hints_line(data: list[str]) -> str:
    hints = page_hints(data)
    if not hints:
        return ""
    return "\n" + HINTS_TEMPLATE.format(hints="; ".join(f"{HINT_NAMES[k]} = {v}" for k, v in hints.items()))


def build_user_prompt(label: str, data: Iterable[str] | None) -> str:
    data = list(data or [])
    prompt = USER_TEMPLATE.format(label=cap_text((label or "").strip(), MAX_LABEL_CHARS),
                                  data=cap_text(join_data(data), MAX_DATA_CHARS))
    return prompt + hints_line(data)


def answer_text(answer: dict[str, str | None]) -> str:
    """An example answer as the grammar writes one (keys in generation order, ", " and ": " separators)."""
    return json.dumps({name: answer[name] for name in GENERATION_ORDER}, ensure_ascii=False)


def few_shot_messages() -> list[dict[str, str]]:
    """The worked examples as earlier chat turns: the prefix every prompt shares."""
    turns = []
    for label, data, answer in FEW_SHOT:
        turns += [{"role": "user", "content": build_user_prompt(label, data)},
                  {"role": "assistant", "content": answer_text(answer)}]
    return turns


def build_messages(label: str, data: Iterable[str] | None) -> list[dict[str, str]]:
    """Chat messages for one record: system prompt, the few-shot turns, then the record."""
    return [{"role": "system", "content": system_prompt()}, *few_shot_messages(),
            {"role": "user", "content": build_user_prompt(label, data)}]


def prompt_version() -> str:
    material = "\x00".join([SYSTEM_PROMPT, USER_TEMPLATE, HINTS_TEMPLATE, json.dumps(FEW_SHOT), field_lines(),
                             key_list(), schema_json(), LABEL_WORDS_VERSION,
                            f"{MAX_LABEL_CHARS}/{MAX_DATA_CHARS}{TRUNCATION_MARK}"])
    return "ilid-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


PROMPT_VERSION = prompt_version()
