"""Build step 6: fetch each sample's image, normalise it to a padded square, encode it.

A row tries its `image_urls` in order until one yields a usable image; if none does, the row is
rejected at stage "download" with the reason of every try ("http 404; not an image: text/html").
Nothing a remote server sends can raise out of the stage: a batch always comes back whole.

Fetching is I/O and runs in a thread pool of `cfg.threads`; decoding, resizing and encoding run
in the same threads (PIL and OpenCV release the GIL) but behind a semaphore of `cpu_slots`, so many
slow downloads overlap while at most a few full-size bitmaps are in memory at once. In a build a
`Downloader` lives inside an image worker for the whole build (`image_workers.py`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from ilid_ray.config import DownloadConfig, NetworkConfig, OptOutSwitches
from ilid_ray import records
from ilid_ray.dataset.fetch import FetchError, GuardedClient
from ilid_ray.imaging import ImageError, make_sample

STAGE = "download"


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def process_image(data: bytes, cfg: DownloadConfig) -> dict[str, Any]:
    """Image bytes -> the download fields of a row (raises ImageError). `make_sample` is decode ->
    resize_pad -> encode without PIL images in between (the same bytes, less CPU)."""
    sample = make_sample(data, cfg.max_pixels, cfg.image_size, cfg.image_format, cfg.jpeg_quality,
                         max_bytes=cfg.max_decode_bytes)
    return {
        "image": sample.data,
        "image_ext": cfg.image_format,
        "image_sha256": hashlib.sha256(sample.data).hexdigest(),
        "orig_width": sample.orig_width,
        "orig_height": sample.orig_height,
        "width": sample.width,
        "height": sample.height,
    }


class Downloader:
    """Callable batch stage (`rows -> rows`); one instance keeps its HTTP connection pools and
    worker threads across the batches it is called with, also from several threads at once."""

    def __init__(self, cfg: DownloadConfig, network: NetworkConfig, cpu_slots: int | None = None,
                 opt_outs: Mapping[str, OptOutSwitches] | None = None, gate=None, share: int = 1):
        """`cpu_slots`: images decoded at once (default: the CPUs this process may use);
        `opt_outs`: per source (catalog) the publisher opt-outs to honour (missing: all on);
        `gate`: the build's PauseBoard actor (None: 429 pauses stay local); `share`: the number of
        downloaders splitting each image host's politeness budget (this one keeps 1/share)."""
        self.cfg = cfg
        self.network = network
        self.cpu_slots = cpu_slots or available_cpus()
        self.opt_outs = dict(opt_outs or {})
        self.gate = gate
        self.share = share
        self._client: GuardedClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._cpu: threading.BoundedSemaphore | None = None
        self._starting = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # built by the driver, started in a worker process
        if self._client is not None:
            raise RuntimeError("a started Downloader cannot be sent to another process")
        return {k: v for k, v in self.__dict__.items() if k != "_starting"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._starting = threading.Lock()

    def _start(self) -> None:
        with self._starting:
            if self._client is None:
                self._pool = ThreadPoolExecutor(max(1, self.cfg.threads), thread_name_prefix="download")
                self._cpu = threading.BoundedSemaphore(self.cpu_slots)
                self._client = GuardedClient(self.cfg, self.network, gate=self.gate, share=self.share)

    def close(self) -> None:
        with self._starting:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._client.close()
            self._client = self._pool = self._cpu = None

    def __call__(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._start()
        todo = [row for row in rows if records.is_ok(row)]
        list(self._pool.map(self.download_row, todo))
        return rows

    def download_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """Fill the row's download fields from the first URL that works, else reject it."""
        self._start()
        urls = list(dict.fromkeys(u.strip() for u in row.get("image_urls") or [] if u and u.strip()))
        tries: list[str] = []
        switches = self.opt_outs.get(row.get("source"), OptOutSwitches())
        for url in urls:
            try:
                fetched = self._client.fetch(url, switches)
                with self._cpu:
                    fields = process_image(fetched.data, self.cfg)
            except (FetchError, ImageError) as exc:
                tries.append(exc.reason)
                continue
            except Exception as exc:  # noqa: BLE001 - one odd image must not fail the batch
                tries.append(f"error: {type(exc).__name__}: {exc}"[:200])
                continue
            row.update(fields, image_url=url)
            return row
        return records.reject(row, STAGE, "; ".join(tries) if tries else "no image url")


def download_rows(rows: list[dict[str, Any]], cfg: DownloadConfig, network: NetworkConfig,
                  opt_outs: Mapping[str, OptOutSwitches] | None = None, gate=None) -> list[dict[str, Any]]:
    """The download stage as a plain function (a fresh client per call)."""
    downloader = Downloader(cfg, network, opt_outs=opt_outs, gate=gate)
    try:
        return downloader(rows)
    finally:
        downloader.close()
