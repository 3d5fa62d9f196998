"""Typed configuration for every stage, loaded from YAML.

One YAML file is the whole knob set of a job (torchtune-style): a build config names its catalogs
and the settings of each pipeline stage; unknown keys are errors so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


LabelSelector = dict[str, str]
"""A Ray label selector, e.g. {"ilid.io/pool": "gpu"}: where a stage's tasks or actors may run
(nodes get labels from the cluster config: `labels:` in the launcher YAML or KubeRay group spec)."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- catalogs


class SelectorSpec(StrictModel):
    """Declarative CSS or XPath selectors for shops without structured product markup.

    A selector starting with `/`, `./` or `(` is XPath, anything else CSS (Scrapy's `::text` and
    `::attr(name)` pseudo-elements allowed).
    """

    title: str
    images: str
    text_blocks: list[str] = Field(default_factory=list)
    attribute_rows: str | None = None  # each match is one table row: "key: value" from its cells
    attribute_key: str = "th ::text, td:nth-child(1) ::text"
    attribute_value: str = "td:last-child ::text"


class OptOutSwitches(StrictModel):
    """Which publisher opt-outs a catalog's build honours: all on by default. Turn one off only
    with the publisher's permission; the switches are recorded in the version record."""

    image_robots_txt: bool = True  # robots.txt of each image host (the page host's is crawl.obey_robots)
    x_robots_tag: bool = True  # X-Robots-Tag headers (also "ilid-ray: noai" forms) of pages and images
    meta_robots: bool = True  # <meta name="robots"|"ilid-ray" content="noai, ..."> of pages
    tdmrep: bool = True  # TDMRep: tdm-reservation header / meta tag, /.well-known/tdmrep.json


class CatalogSpec(StrictModel):
    """A web catalog as data: where to start, which pages are products, how to read one."""

    name: str  # the `source` tag carried by every record
    start_urls: list[str] = Field(default_factory=list)  # robots.txt URLs (sitemaps discovered)
    sitemap_urls: list[str] = Field(default_factory=list)  # explicit sitemaps, if no robots.txt
    allowed_domains: list[str] = Field(default_factory=list)  # empty: the hosts of start/sitemap URLs
    product_url_pattern: str = ".*"  # regex on sitemap <loc> URLs that are product pages
    sitemap_follow: list[str] = Field(default_factory=lambda: [".*"])  # nested sitemap regexes
    trade_names: str | None = None  # case-insensitive regex removed from label and data
    # structured | selectors | custom | heuristic (the generic reader only: shops without markup)
    reader: Literal["structured", "selectors", "custom", "heuristic"] = "structured"
    selectors: SelectorSpec | None = None
    spider: str | None = None  # "package.module:SpiderClass" for reader=custom
    max_pages: int | None = None  # overrides crawl.max_pages for this catalog
    # reader structured/custom: read pages without product markup generically (found_by
    # "heuristic") and fill a structured record's missing title or image ("json-ld+heuristic");
    # false: such pages are rejected as "no product markup" / "no title" / "no image"
    heuristic_fallback: bool = True
    opt_outs: OptOutSwitches = Field(default_factory=OptOutSwitches)

    @model_validator(mode="after")
    def _reader_needs(self) -> CatalogSpec:
        if not self.start_urls and not self.sitemap_urls:
            raise ValueError(f"catalog {self.name!r}: give start_urls (robots.txt) or sitemap_urls")
        if self.reader == "selectors" and self.selectors is None:
            raise ValueError(f"catalog {self.name!r}: reader 'selectors' needs a selectors block")
        if self.reader == "custom" and not self.spider:
            raise ValueError(f"catalog {self.name!r}: reader 'custom' needs spider: module:Class")
        return self


# --------------------------------------------------------------------------- stages


class NetworkConfig(StrictModel):
    """Which addresses crawled URLs may reach. Private, loopback, link-local and metadata
    addresses are refused unless listed here (the local fixture catalog needs 127.0.0.1/32)."""

    allow_private: list[str] = Field(default_factory=list)
    user_agent: str = "ilid-ray/0.1 (+https://github.com/ilid-ray/ilid-ray)"

    @field_validator("allow_private")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class CrawlConfig(StrictModel):
    max_pages: int = 1000  # per catalog
    concurrency_per_domain: int = 4
    autothrottle: bool = True
    autothrottle_target_concurrency: float = 2.0
    download_timeout_s: float = 20.0
    retry_times: int = 2
    obey_robots: bool = True
    max_parallel_catalogs: int = 4
    autothrottle_start_delay_s: float = 5.0  # Scrapy's default; lower it only for local catalogs
    autothrottle_max_delay_s: float = 60.0
    max_redirects: int = 5  # a longer chain (or a loop) rejects the page
    max_page_bytes: int = 16 * 1024 * 1024  # larger pages and sitemaps are cancelled
    # bounds of one catalog's walk (a sitemap index can generate sitemaps forever)
    max_sitemaps: int = 200  # sitemap documents fetched (robots.txt and start sitemaps included)
    max_sitemap_depth: int = 4  # nesting: robots.txt / sitemap_urls are depth 0, what they list 1, ...
    max_crawl_s: float = 3600.0  # wall time of one catalog's crawl; then it stops, the rest "not crawled"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"  # Scrapy's, inside crawl tasks
    label_selector: LabelSelector | None = None


class ExtractConfig(StrictModel):
    engine: Literal["transformers", "vllm", "rules"] = "transformers"
    # HF model id, local folder, or the alias of the model that ships offline.
    model: str = "smollm2-135m-instruct"
    decoding: Literal["greedy", "paper"] = "greedy"  # paper = sampling top_p 0.9, temperature 0.6
    max_new_tokens: int = 160
    batch_size: int = 16
    concurrency: int | tuple[int, int] = 1  # replicas, or an autoscaling (min, max) pair
    num_gpus: float = 0.0  # per replica (vLLM: per tensor-parallel worker, i.e. per placement bundle)
    num_cpus: float = 1.0  # per replica (vLLM: per placement bundle)
    structured_output: bool = True  # constrain decoding to the five-field JSON schema
    seed: int = 0
    # vLLM only
    tensor_parallel_size: int = 1
    max_model_len: int = 2048
    dtype: str = "auto"  # vLLM on CPU bundles: "auto" means float32
    chat_template: str | None = None
    # Interpreter of the environment that has vLLM. None: $ILID_VLLM_PYTHON, else .venv-vllm/bin/python
    # in the repository root (scripts/setup-vllm-env.sh), else this interpreter if it has vLLM.
    python: str | None = None
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    runtime_env: dict[str, Any] = Field(default_factory=dict)  # extra Ray runtime env of the vLLM actors
    accelerator_type: str | None = None  # e.g. "H100": place vLLM replicas on that GPU type only
    placement_strategy: Literal["PACK", "STRICT_PACK", "SPREAD", "STRICT_SPREAD"] = "PACK"  # one replica's bundles
    label_selector: LabelSelector | None = None  # where the LLM replicas run (e.g. the GPU pool)


class PostfilterConfig(StrictModel):
    min_field_chars: int = 4


class DownloadConfig(StrictModel):
    """The image half of a build: `concurrency` image workers (Ray actors living for the whole build,
    dataset/image_workers.py), each fetching with `threads` threads, decoding `cpu_slots` images at
    once and writing its own shards."""

    threads: int = 16  # concurrent fetches per image worker
    concurrency: int = 2  # image workers
    cpu_slots: int = 1  # images one worker decodes + resizes + encodes at once (its CPU use, in cores)
    # CPUs Ray reserves per worker. 0: the workers, which live for the whole build, never keep the
    # build's Ray Data tasks waiting for a CPU on a small node (they are spread over the nodes
    # `label_selector` picks). On nodes kept for downloads, reserve what a worker uses: cpu_slots.
    num_cpus: float = 0.0
    batch_rows: int = 64  # rows per call to an image worker (a worker serves 4 calls at once)
    # rows the driver reads ahead while the workers are busy, to mix catalogs (image hosts) in each call
    lookahead_rows: int = 4096
    timeout_s: float = 15.0
    deadline_s: float = 60.0  # whole fetch of one URL attempt: a trickling server can't hold a thread
    retries: int = 2
    backoff_s: float = 0.5
    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 80_000_000  # decompression-bomb guard
    # memory one decode may need (imaging.decode_bytes: pixels x bytes per pixel of the mode and the
    # copies); over it the image is rejected. Times cpu_slots x concurrency: the build's decode peak
    max_decode_bytes: int = Field(1 << 30, ge=1 << 20)
    max_redirects: int = 5
    # politeness per image host for the whole build, split equally between the image workers
    # (dataset/hostgate.py)
    per_host_concurrency: int = 8  # fetches in flight per host (at least one per image worker)
    per_host_rate: float = 20.0  # fetch starts per second per host (0: unlimited)
    host_wait_s: float = 300.0  # longest wait for a host's slot (also caps an honoured Retry-After)
    label_selector: LabelSelector | None = None
    image_size: int = 512
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = 95

    @model_validator(mode="after")
    def _a_host_slot_per_worker(self) -> DownloadConfig:
        if self.per_host_concurrency < self.concurrency:
            raise ValueError(f"per_host_concurrency ({self.per_host_concurrency}) is below concurrency "
                             f"({self.concurrency}): every image worker needs at least one slot per host; "
                             "lower download.concurrency or raise per_host_concurrency")
        return self


class DatasetConfig(StrictModel):
    root: str = "./ilid-data"  # local folder / file:// URL, or s3://bucket/prefix
    shard_size: int = 1000  # samples per shard (all but the last shard of each image worker are full)
    # rows per Ray Data block of the text half: the unit of its parallelism. Larger blocks cost less
    # per record (100k records: 1024 rows x1.22 the reference's records/s, 256 x1.03, 64 x0.5) and keep
    # the driver's bookkeeping small; smaller ones let a slow LLM hand its first rows on sooner.
    block_rows: int = 1024
    registry_shards: int = Field(1, ge=1)  # key-registry actors (URL / image-hash dedupe), keys split by hash
    folds: int = 6
    fold_seed: int = 0
    # `{key}.txt` of every sample, so open_clip's own WebDataset trainer reads the shards as they are
    # (`--csv-caption-key` is for CSVs; WebDataset reads `txt`). label_long by default: the paper's
    # best cross-validated field (84.3 % top-1 against label_short's 79.9 %) and its deployed model's.
    caption_field: Literal["label_long", "label_short", "description", "material", "material_finish"] = "label_long"


class StorageConfig(StrictModel):
    """S3-compatible endpoint. Unset fields fall back to the standard AWS env vars
    (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)."""

    endpoint_url: str | None = None
    region: str | None = None


class RayConfig(StrictModel):
    address: str | None = None  # None: connect to a running cluster if any, else start a local one
    num_cpus: int | None = None  # only for a local instance


class BuildConfig(StrictModel):
    """`ilid build`: catalogs -> WebDataset shards + manifest."""

    catalogs: list[CatalogSpec]
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    postfilter: PostfilterConfig = Field(default_factory=PostfilterConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)

    @field_validator("catalogs", mode="before")
    @classmethod
    def _load_catalog_files(cls, value: Any, info) -> Any:
        """Catalog entries may be inline specs or paths to catalog YAML files (or folders of them)."""
        base = Path((info.context or {}).get("base_dir", "."))
        out: list[Any] = []
        for entry in value or []:
            if isinstance(entry, str):
                out.extend(load_catalog_specs(resolve_path(entry, base)))
            else:
                out.append(entry)
        return out

    @model_validator(mode="after")
    def _unique_catalog_names(self) -> BuildConfig:
        names = [c.name for c in self.catalogs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"catalog names must be unique, repeated: {dupes}")
        return self


class ImportSource(StrictModel):
    """A company's own labelled images: a folder of `class_name/*.jpg`, or a CSV/Parquet table of
    `path` + `label` (+ optional label_long, description, material, material_finish columns)."""

    name: str = "import"  # the `source` tag of every sample (plays the catalog's part in versions)
    folder: str | None = None  # local path or s3://; each sub-folder is a class
    table: str | None = None  # .csv or .parquet; relative paths are read from the table's folder
    descriptions: str | None = None  # YAML {class: description} or {class: {description, material, ...}}
    path_column: str = "path"
    label_column: str = "label"

    @model_validator(mode="after")
    def _one_input(self) -> ImportSource:
        if (self.folder is None) == (self.table is None):
            raise ValueError("import source: give exactly one of folder (class_name/*.jpg) or table (CSV/Parquet)")
        if self.table is not None and not self.table.endswith((".csv", ".parquet")):
            raise ValueError(f"import table {self.table!r}: use a .csv or .parquet file")
        return self


class ImportConfig(StrictModel):
    """`ilid dataset import`: labelled images -> WebDataset shards + manifest, as a build does.
    Of `download`, the image fields apply (image_size, image_format, jpeg_quality, max_pixels,
    concurrency, label_selector): images get the build's normalisation."""

    source: ImportSource
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)


# --------------------------------------------------------------------------- loading


def resolve_path(path: str | Path, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def read_yaml(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def load_catalog_specs(path: str | Path) -> list[CatalogSpec]:
    """A catalog YAML file, or every `*.yaml` in a folder (sorted)."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no catalog specs (*.yaml) in {path}")
    return [CatalogSpec.model_validate(read_yaml(f)) for f in files]


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`a.b.c=value` overrides (value parsed as YAML), like torchtune's command-line overrides."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        dotted, raw = item.split("=", 1)
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {key!r} is not a mapping")
        node[leaf] = yaml.safe_load(raw)
    return data


def load_build_config(path: str | Path, overrides: list[str] = ()) -> BuildConfig:
    path = Path(path)
    data = apply_overrides(read_yaml(path), list(overrides))
    return BuildConfig.model_validate(data, context={"base_dir": str(path.parent)})


def load_import_config(path: str | Path | None, overrides: list[str] = ()) -> ImportConfig:
    """An import config file (its relative source paths are read from its folder) plus overrides
    (relative to the working directory)."""
    data = read_yaml(path) if path else {}
    source = data.get("source") or {}
    for key in ("folder", "table", "descriptions"):
        value = source.get(key)
        if path and isinstance(value, str) and "://" not in value:
            source[key] = str(resolve_path(value, Path(path).parent))
    return ImportConfig.model_validate(apply_overrides(data, list(overrides)))
