import hashlib
import io

from PIL import Image

from ilid_ray.records import raw_row
from ilid_ray.dataset.image_workers import ShardWriter
from ilid_ray.dataset.shards import iter_shard
from ilid_ray.storage import Store


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (seed % 256, 0, 0)).save(buf, "JPEG")
    return buf.getvalue()


def accepted(i: int) -> dict:
    row = raw_row(f"http://s/{i}", "acme", "hinge", ["steel"], [f"http://s/{i}.jpg"], "t")
    image = jpeg(i)
    row.update(label_long="steel hinge", label_short="hinge", image=image, image_ext="jpg",
               image_sha256=hashlib.sha256(image).hexdigest(), image_url=f"http://s/{i}.jpg", orig_width=8, orig_height=8, width=8, height=8)
    return row


def test_writer_publishes_full_shards_and_flushes_the_rest(tmp_path):
    store = Store(str(tmp_path))
    writer = ShardWriter(store, "b1", "jpg", shard_size=4, folds=6, fold_seed=0)
    writer.add([accepted(i) for i in range(3)])
    assert store.list("shards") == []  # not full yet
    writer.add([accepted(i) for i in range(3, 9)])
    assert len(store.list("shards")) == 2  # two full shards of 4, one sample buffered
    writer.flush()
    sizes = sorted(sum(1 for _ in iter_shard(store, rel)) for rel in store.list("shards"))
    assert sizes == [1, 4, 4]
    assert len(store.list("fragments")) == 3


# --------------------------------------------------------------------------- one worker, in process


def test_a_worker_fetches_claims_shards_and_returns_light_rows(tmp_path, host_factory):
    """The real Downloader against a local image host, the real KeyRegistry, the real ShardWriter:
    of two pages with the same picture the smaller sample id is kept, a row rejected earlier is left
    alone, the returned rows carry no bytes, and the samples are in shards once the worker is flushed."""
    from ilid_ray.config import DownloadConfig, NetworkConfig
    from ilid_ray.dataset.dedupe import KeyRegistry
    from ilid_ray.dataset.download import Downloader
    from ilid_ray.dataset.image_workers import ImageWorker
    from ilid_ray.records import OK, REJECTED, from_table, reject, to_table

    host = host_factory()
    store = Store(str(tmp_path))
    fill = Downloader(DownloadConfig(threads=4, image_size=32, retries=0), NetworkConfig(allow_private=["127.0.0.1/32"]))
    worker = ImageWorker(fill, KeyRegistry().claim, ShardWriter(store, "b1", "jpg", 2, 6, 0))
    rows = [raw_row(f"http://shop/{i}", "acme", "hinge", ["steel"], [host.base + path], "t")
            for i, path in enumerate(["/a.jpg", "/b.jpg", "/c.jpg"])]  # the host sends one JPEG for every path
    reject(rows[2], "postfilter", "label_short too short")
    out = from_table(worker.process(to_table(rows)))
    kept, dropped = sorted((0, 1), key=lambda i: rows[i]["id"])
    assert [out[i]["status"] for i in (kept, dropped, 2)] == [OK, REJECTED, REJECTED]
    assert out[dropped]["reject_reason"] == f"same image as sample {rows[kept]['id']} in this build"
    assert out[2]["reject_stage"] == "postfilter"
    assert "/c.jpg" not in host.paths  # nothing is fetched for a rejected row
    assert all(r["image"] is None for r in out) and out[kept]["image_sha256"]
    assert store.list("shards") == []  # one sample: not a full shard yet
    report = worker.flush()
    (rel,) = store.list("shards")
    assert [key for key, _, _ in iter_shard(store, rel)] == [rows[kept]["id"].replace("-", "")]
    assert report["counts"] == {"rows": 3, "accepted": 1, "calls": 1}
    assert set(report["seconds"]) >= {"fill", "claim", "shard", "flush"}
    assert report["span"][0] <= report["span"][1]


def test_calls_take_rows_round_robin_over_the_sources():
    """Consecutive calls spread over the catalogs (so over their image hosts' politeness budgets)."""
    import pyarrow as pa

    from ilid_ray.dataset.image_workers import interleave_sources

    rows = pa.table({"source": ["a", "a", "a", "b", "b", "c"], "n": [1, 2, 3, 1, 2, 1]})
    out = interleave_sources(rows)
    assert list(zip(out.column("source").to_pylist(), out.column("n").to_pylist())) == [
        ("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("a", 3)]
    single = pa.table({"source": ["a", "a"], "n": [2, 1]})
    assert interleave_sources(single).equals(single)
