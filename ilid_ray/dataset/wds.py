"""Let plain `webdataset` read `s3://bucket/key` URLs (webdataset 1.0.2 has no S3 handler).

`register_s3()` adds an `s3` entry to `webdataset.gopen.gopen_schemes` that streams objects with
boto3, configured like `Store` (AWS_ENDPOINT_URL / keys / region from the environment or a
`StorageConfig`), so `webdataset.WebDataset("s3://bucket/shards/b1/{...}.tar")` reads shards from
AWS or any S3-compatible server. Registration is per process: call it in each worker that reads
shards (idempotent and cheap).

Reading only: shards are written by `ilid_ray.dataset.shards` through `Store.staged`, which
publishes a finished file atomically. A gopen writer cannot be atomic, because webdataset's
TarWriter closes its stream the same way whether or not the producer failed.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlparse

from ilid_ray.config import StorageConfig
from ilid_ray.storage import Store


def open_s3(url: str, mode: str = "rb", bufsize: int = 8192, storage: StorageConfig | None = None, **_):
    """gopen handler: a streaming reader of one S3 object."""
    if mode != "rb":
        raise ValueError(f"{url}: the s3 handler only reads; write shards with Store.staged")
    parsed = urlparse(url)
    key = parsed.path.lstrip("/")
    if not parsed.netloc or not key:
        raise ValueError(f"{url!r}: expected s3://bucket/key")
    return Store(f"s3://{parsed.netloc}", storage).open_read(key)


def register_s3(storage: StorageConfig | None = None) -> None:
    """Install the `s3` scheme into webdataset's gopen dispatch table (idempotent)."""
    gopen = importlib.import_module("webdataset.gopen")  # the module, not the function of that name

    def handler(url: str, mode: str = "rb", bufsize: int = 8192, **kw):
        return open_s3(url, mode, bufsize, storage=storage, **kw)

    gopen.gopen_schemes["s3"] = handler
