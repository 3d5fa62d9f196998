"""The vLLM stage's row handling and configuration, without vLLM or a cluster: build rows survive
the trip through the processor whole, rejected rows pass untouched, vLLM's answers go through the
shared parser, and the structured-output schema is the one the prompt and parser agree on."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from ilid_ray.config import ExtractConfig
from ilid_ray import records
from ilid_ray.dataset.extract import vllm_env, vllm_rows
from ilid_ray.dataset.extract.engine import STAGE, apply_answer
from ilid_ray.dataset.extract.parse import parse_answer
from ilid_ray.dataset.extract.consistency import enforce_rules
from ilid_ray.dataset.extract.hints import page_hints
from ilid_ray.dataset.extract.engine import build_request
from ilid_ray.dataset.extract.prompt import FEW_SHOT, PROMPT_VERSION, build_messages, system_prompt
from ilid_ray.dataset.extract.schema import EXTRACTION_SCHEMA, schema_json
from ilid_ray.dataset.extract.vllm_engine import engine_kwargs, placement_bundles, processor_config, replicas

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct (test)"
ANSWER = {"label_long": "Stainless steel ball lock pin with ring", "label_short": "Ball lock pin",
          "description": "Ball lock pins connect components quickly and securely", "material": "stainless steel",
          "material_finish": "bright"}


@pytest.fixture(scope="module")
def tokenizer(smollm2_folder):
    return vllm_rows.chat_tokenizer(smollm2_folder)


@pytest.fixture
def request_of(tokenizer):
    """Build row -> the processor's input row (greedy, constrained sampling params)."""
    params = vllm_rows.sampling_params(ExtractConfig())
    return lambda row: vllm_rows.to_request(row, params, tokenizer)


def engine_row(request: dict, *, text: str | None = None, error: str = "", tokens: int = 0) -> dict:
    """What the processor's postprocess returns for a request that reached the engine."""
    return {vllm_rows.ROW_COLUMN: request[vllm_rows.ROW_COLUMN], "generated_text": text, "num_generated_tokens": tokens,
            "num_input_tokens": 300, "time_taken_llm": 1.0, "batch_uuid": "b", vllm_rows.ERROR_COLUMN: error}


def passed_through(request: dict) -> dict:
    """What ray.data.llm returns for a row whose error column is set: its data, untouched."""
    return dict(request)


def test_greedy_sampling_params_carry_the_schema_as_json_text():
    params = vllm_rows.sampling_params(ExtractConfig(max_new_tokens=77, seed=3))
    assert params["temperature"] == 0.0 and params["max_tokens"] == 77 and params["seed"] == 3
    assert params["structured_outputs"] == {"json": schema_json()}
    assert json.loads(params["structured_outputs"]["json"]) == EXTRACTION_SCHEMA
    # backend (xgrammar, as the transformers engine) and whitespace are engine-wide in vLLM
    assert engine_kwargs(ExtractConfig())["structured_outputs_config"] == {"backend": "xgrammar",
                                                                            "disable_any_whitespace": True}
    assert "structured_outputs_config" not in engine_kwargs(ExtractConfig(structured_output=False))


def test_paper_sampling_and_unconstrained_decoding():
    params = vllm_rows.sampling_params(ExtractConfig(decoding="paper", structured_output=False, seed=9))
    assert (params["temperature"], params["top_p"], params["seed"]) == (0.6, 0.9, 9)
    assert "structured_outputs" not in params


def test_rows_survive_the_trip_through_arrow_whole(product_rows, smollm2_folder):
    row = product_rows[0]
    row["image"], row["fold"], row["width"] = b"\x00\xffjpeg", 4, 512
    expected = copy.deepcopy(row)
    table = vllm_rows.to_requests(records.to_table([row]), vllm_rows.sampling_params(ExtractConfig()),
                                  smollm2_folder, None)
    request = table.to_pylist()[0]
    assert vllm_rows.decode_row(request[vllm_rows.ROW_COLUMN]) == expected
    assert request[vllm_rows.ERROR_COLUMN] == ""
    # what ray.data.llm reads from a row: nothing of the build row leaks into its columns
    assert set(table.column_names) == {"row", "tokenized_prompt", "sampling_params", vllm_rows.ERROR_COLUMN}


def test_the_prompt_is_the_shared_one_tokenized_without_extra_special_tokens(product_rows, tokenizer, request_of):
    row = product_rows[2]
    ids = request_of(row)["tokenized_prompt"]
    text = tokenizer.apply_chat_template(build_messages(row["label"], row["data"]), add_generation_prompt=True,
                                         tokenize=False)
    assert tokenizer.decode(ids) == text  # the chat template's own special tokens, nothing added
    assert text.startswith("<|im_start|>system\n" + system_prompt()) and "Label: " + row["label"] in text
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    turns = 3 + 2 * len(FEW_SHOT)  # system, the few-shot pairs, user, assistant
    assert ids.count(start) == text.count("<|im_start|>") == turns


def test_each_request_carries_its_records_own_schema(product_rows, request_of):
    """The labels' words differ per record, so does the schema vLLM constrains each answer to."""
    schemas = [request_of(row)["sampling_params"]["structured_outputs"]["json"] for row in product_rows[:3]]
    assert schemas == [build_request(row).schema for row in product_rows[:3]] and len(set(schemas)) == 3
    assert request_of(product_rows[0])["sampling_params"]["max_tokens"] == ExtractConfig().max_new_tokens


def test_a_model_without_chat_template_is_refused(smollm2_folder, tmp_path):
    config = json.loads((Path(smollm2_folder) / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    shutil.copy(Path(smollm2_folder) / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(ValueError, match="no chat template: set extract.chat_template"):
        vllm_rows.chat_tokenizer(str(tmp_path))
    assert vllm_rows.chat_tokenizer(str(tmp_path), "{{ messages[0]['content'] }}").chat_template


def test_rejected_rows_pass_through_untouched(product_rows, request_of):
    rejected = records.reject(product_rows[1], "dedupe", "duplicate URL")
    expected = copy.deepcopy(rejected)
    request = request_of(rejected)
    assert request[vllm_rows.ERROR_COLUMN] == vllm_rows.PASS_THROUGH and request["tokenized_prompt"] is None
    assert vllm_rows.to_build_row(passed_through(request), MODEL, PROMPT_VERSION) == expected


def test_answers_go_through_the_shared_row_update(product_rows, request_of):
    text = json.dumps(ANSWER)
    out = vllm_rows.to_build_row(engine_row(request_of(product_rows[0]), text=text),
                                 MODEL, PROMPT_VERSION)
    same = apply_answer(copy.deepcopy(product_rows[0]), text, MODEL, PROMPT_VERSION)
    assert out == same and records.is_ok(out)
    assert out["label_short"] == "Ball lock pin" and out["model"] == MODEL and out["prompt_version"] == PROMPT_VERSION


def test_a_bad_answer_and_an_engine_error_reject_with_reasons(product_rows, request_of):
    cut = vllm_rows.to_build_row(engine_row(request_of(product_rows[0]), text='{"material": "st'),
                                 MODEL, PROMPT_VERSION)
    assert cut["reject_stage"] == STAGE and cut["reject_reason"].startswith("unparseable answer")
    assert cut["llm_raw"] == '{"material": "st'
    error = "VLLMValidationError: prompt too long"
    failed = vllm_rows.to_build_row(engine_row(request_of(product_rows[1]), text="", error=error),
                                    MODEL, PROMPT_VERSION)
    assert failed["reject_stage"] == STAGE
    assert failed["reject_reason"] == "engine error: VLLMValidationError: prompt too long"
    assert failed["model"] == MODEL


def test_output_batches_with_and_without_engine_columns(product_rows, request_of):
    rejected = records.reject(product_rows[2], "prefilter", "empty label")
    answered = engine_row(request_of(product_rows[0]), text=json.dumps(ANSWER), tokens=41)
    only_passed = pa.Table.from_pylist([passed_through(request_of(rejected))])
    assert vllm_rows.to_build_rows(only_passed, MODEL, PROMPT_VERSION).to_pylist()[0]["reject_reason"] == "empty label"
    mixed = pa.Table.from_pylist([answered, {vllm_rows.ROW_COLUMN: vllm_rows.encode_row(rejected),
                                             vllm_rows.ERROR_COLUMN: vllm_rows.PASS_THROUGH}])
    table = vllm_rows.to_build_rows(mixed, MODEL, PROMPT_VERSION)
    assert table.schema == records.ROW_SCHEMA and table.column("status").to_pylist() == ["ok", "rejected"]
    assert vllm_rows.generated_tokens(vllm_rows.output_rows(mixed)) == 41


@pytest.mark.parametrize("seed", range(20))
def test_any_schema_valid_vllm_answer_fills_the_row_with_exactly_its_values(seed, product_rows, request_of):
    """Structured outputs give a schema-valid object; the parser must read it back unchanged."""
    import random

    rng = random.Random(seed)
    answer = {name: (None if rng.random() < 0.3 else " ".join(rng.sample(["steel", "clamp", "black", "knob"],
                                                                         rng.randint(1, 4))))
              for name in records.FIELDS}  # no word twice in a row: the rules would say it once
    answer["label_long"], answer["label_short"] = "Toggle clamp with open arm", "Toggle clamp"
    if answer["material_finish"] == answer["material"]:  # a copy: the rules would drop it
        answer["material_finish"] = None
    jsonschema.validate(answer, EXTRACTION_SCHEMA)
    text = json.dumps(answer, separators=(",", ":"))  # disable_any_whitespace: no spaces at all
    assert parse_answer(text).fields == answer
    source = " ".join([product_rows[seed % 5]["label"], *product_rows[seed % 5]["data"]])
    answer = enforce_rules(answer, source)[0]  # a material the record does not name is dropped
    row = vllm_rows.to_build_row(engine_row(request_of(product_rows[seed % 5]), text=text),
                                 MODEL, PROMPT_VERSION)
    markup = page_hints(product_rows[seed % 5]["data"])  # the page's material/finish rows win
    assert {name: row[name] for name in records.FIELDS} == answer | markup
    assert row["fields_from_markup"] == sorted(markup)


# --------------------------------------------------------------------------- configuration


def test_cpu_replica_is_one_cpu_bundle_in_float32_eager_mode():
    cfg = ExtractConfig(engine="vllm", num_cpus=1, max_model_len=1024)
    assert placement_bundles(cfg) == [{"CPU": 1.0}]
    kwargs = engine_kwargs(cfg)
    assert kwargs["dtype"] == "float32" and kwargs["enforce_eager"] is True and kwargs["max_model_len"] == 1024


def test_gpu_replica_has_one_bundle_per_tensor_and_pipeline_parallel_worker():
    cfg = ExtractConfig(engine="vllm", num_gpus=1, tensor_parallel_size=2, dtype="bfloat16",
                        engine_kwargs={"pipeline_parallel_size": 2, "enforce_eager": False})
    assert placement_bundles(cfg) == [{"CPU": 1.0, "GPU": 1.0}] * 4
    kwargs = engine_kwargs(cfg)
    assert kwargs["dtype"] == "bfloat16" and kwargs["tensor_parallel_size"] == 2 and kwargs["enforce_eager"] is False
    assert "VLLM_CPU_KVCACHE_SPACE" not in vllm_env.runtime_env(cfg, vllm_env.VllmEnv(None, "x"))["env_vars"]


def test_replicas_fixed_or_autoscaling():
    assert replicas(3) == (3, 3) and replicas((1, 4)) == (1, 4)


def test_processor_config_is_accepted_by_ray_data_llm():
    cfg = ExtractConfig(engine="vllm", batch_size=8, concurrency=(1, 2), accelerator_type="H100",
                        runtime_env={"env_vars": {"VLLM_CPU_KVCACHE_SPACE": 4}})
    config = processor_config(cfg, "/models/x", vllm_env.VllmEnv("/envs/vllm/bin/python", "0.32.0"))
    assert config.model_source == "/models/x" and config.batch_size == 8 and config.concurrency == (1, 2)
    assert [{k: v for k, v in b.items() if v} for b in config.placement_group_config["bundles"]] == [{"CPU": 1.0}]
    assert config.runtime_env["py_executable"] == "/envs/vllm/bin/python"
    env_vars = config.runtime_env["env_vars"]
    assert env_vars["VLLM_CPU_KVCACHE_SPACE"] == "4" and env_vars["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    assert env_vars["OMP_NUM_THREADS"] == "1"
    # prompts arrive as token ids and vLLM detokenizes: no extra ray.data.llm stages
    assert config.chat_template_stage is config.tokenize_stage is config.detokenize_stage is False
    assert config.should_continue_on_error


# --------------------------------------------------------------------------- which interpreter


def test_missing_environment_names_the_setup_script(monkeypatch, tmp_path):
    monkeypatch.setenv(vllm_env.ENV_VAR, str(tmp_path / "nope" / "python"))
    with pytest.raises(vllm_env.VllmEnvMissing, match="scripts/setup-vllm-env.sh"):
        vllm_env.resolve_env(None)


def test_an_interpreter_without_vllm_is_refused():
    # the test interpreter itself: right Python and Ray, but no vLLM in this environment
    with pytest.raises(vllm_env.VllmEnvMissing, match="has no vllm"):
        vllm_env.resolve_env(sys.executable)


def test_an_interpreter_must_match_the_driver_python_and_ray():
    with pytest.raises(vllm_env.VllmEnvMissing, match="Ray workers must match the driver"):
        vllm_env.check("/envs/x/bin/python", {"python": "3.12", "ray": "2.60.0", "vllm": "0.32.0"})
    assert vllm_env.check("/p", vllm_env.probe(sys.executable) | {"vllm": "0.32.0"}).python == "/p"


def test_environment_variable_then_the_repository_venv(monkeypatch, tmp_path):
    monkeypatch.setenv(vllm_env.ENV_VAR, "/from/env/python")
    assert vllm_env.default_python() == "/from/env/python"
    monkeypatch.delenv(vllm_env.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    found = vllm_env.default_python()
    assert found is None or found.endswith(".venv-vllm/bin/python")


def test_label_selector_is_refused_for_multi_worker_replicas():
    from ilid_ray.dataset.extract.vllm_engine import build_vllm_processor

    cfg = ExtractConfig(engine="vllm", num_gpus=1, tensor_parallel_size=2, label_selector={"ilid.io/pool": "gpu"})
    with pytest.raises(ValueError, match="tensor and pipeline parallel size 1"):
        build_vllm_processor(cfg, "/models/x", vllm_env.VllmEnv(None, "0.32.0"))


@pytest.mark.slow
def test_the_processor_composes_into_a_dataset(ray_local, smollm2_folder):
    """ray.data.llm accepts the config (incl. the label selector) and composes the stage lazily:
    one engine actor pool in the vLLM environment."""
    from ilid_ray.dataset.extract.vllm_engine import build_vllm_processor

    cfg = ExtractConfig(engine="vllm", label_selector={"ilid.io/pool": "gpu"})
    processor = build_vllm_processor(cfg, smollm2_folder, vllm_env.VllmEnv("/envs/vllm/bin/python", "0.32.0"))
    engine = processor.get_stage_by_name("vLLMEngineStage").map_batches_kwargs
    assert engine["label_selector"] == {"ilid.io/pool": "gpu"} and engine["num_cpus"] == 1.0
    assert engine["runtime_env"]["py_executable"] == "/envs/vllm/bin/python"
    assert processor.list_stage_names() == ["vLLMEngineStage"]
    plan = repr(processor(ray_local.data.from_items([{"row": "{}"}])))  # lazy: nothing runs
    assert "vLLMEngineStageUDF" in plan
