import hashlib
import io

from PIL import Image

from ilid_ray.records import raw_row
from ilid_ray.dataset.image_workers import ShardWriter, worker_for
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
    assert writer.add([accepted(i) for i in range(3)]) == 3
    assert store.list("shards") == []  # not full yet
    assert writer.add([accepted(i) for i in range(3, 9)]) == 6
    assert len(store.list("shards")) == 2  # two full shards of 4, one sample buffered
    writer.flush()
    sizes = sorted(sum(1 for _ in iter_shard(store, rel)) for rel in store.list("shards"))
    assert sizes == [1, 4, 4]
    assert len(store.list("fragments")) == 3


def test_a_retried_batch_is_not_written_twice(tmp_path):
    store = Store(str(tmp_path))
    writer = ShardWriter(store, "b1", "jpg", shard_size=10, folds=6, fold_seed=0)
    rows = [accepted(i) for i in range(5)]
    writer.add(rows)
    assert writer.add([accepted(i) for i in range(5)]) == 0
    writer.flush()
    (rel,) = store.list("shards")
    assert sorted(key for key, _, _ in iter_shard(store, rel)) == sorted(r["id"].replace("-", "") for r in rows)


def test_rows_route_to_a_stable_worker():
    ids = [raw_row(f"http://s/{i}", "a", "x", ["y"], [], "t")["id"] for i in range(200)]
    assert [worker_for(i, 3) for i in ids] == [worker_for(i, 3) for i in ids]
    assert set(worker_for(i, 3) for i in ids) == {0, 1, 2}
