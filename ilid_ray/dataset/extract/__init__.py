"""Step 4 of the build: the five fields from an LLM (or the rules baseline).

Shared by every engine: `prompt` (the paper's prompt), `schema` (the five-field JSON schema),
`parse` + `values` (reading and validating an answer), `engine` (the engine interface, the row
update and the Ray Data stage), `models` (which weights to load). Engines: `transformers_engine`
(+ `grammar`, constrained decoding), `rules_engine`.
"""
