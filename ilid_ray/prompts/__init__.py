"""Class texts for CLIP beyond the single template: LLM-written descriptions per label (CuPL).

`describe.py` asks the extraction LLM for descriptions and parses its answers; `files.py` stores
them with a dataset version and resolves `model.variant.descriptions` for training; `commands.py`
is `ilid prompts ...`.
"""
