import os
import subprocess
import sys
from pathlib import Path

import pytest

from ilid_ray.dataset import dedupe
from ilid_ray.dataset.dedupe import (IN_BUILD, IN_DATASET, REMOVED, TAKEN, KeyRegistry, dedupe_images, dedupe_urls,
                                     merge_verdicts, preload_chunks, shard_of, split_keys)
from ilid_ray.records import OK, REJECTED, RESUMED, raw_row


def row(url, sha=None):
    r = raw_row(url, "acme", "hinge", ["steel"], [], "t")
    r["image_sha256"] = sha
    return r


def test_urls_claimed_once_across_batches_and_against_dataset():
    existing = row("http://s/old")
    adopted = row("http://s/adopted")
    reg = KeyRegistry({"id": [(existing["id"], IN_DATASET, existing["id"]),
                              (adopted["id"], IN_BUILD, adopted["id"])]})
    first = dedupe_urls([row("http://s/a"), row("http://s/old"), row("http://s/adopted")], reg.claim)
    second = dedupe_urls([row("http://s/a#gallery"), row("http://s/b")], reg.claim)
    assert [r["status"] for r in first] == [OK, REJECTED, RESUMED]
    assert first[1]["reject_reason"] == "URL already in the dataset"
    assert [r["status"] for r in second] == [REJECTED, OK]
    assert second[0]["reject_reason"] == "duplicate URL in this build"


def test_claims_are_idempotent_for_the_same_owner():
    """A retried Ray task re-claims its own keys; it must not reject its own rows."""
    reg = KeyRegistry()
    rows = [row("http://s/a", "h1"), row("http://s/b", "h2")]
    assert [r["status"] for r in dedupe_images(dedupe_urls(rows, reg.claim), reg.claim)] == [OK, OK]
    retry = [row("http://s/a", "h1"), row("http://s/b", "h2")]
    assert [r["status"] for r in dedupe_images(dedupe_urls(retry, reg.claim), reg.claim)] == [OK, OK]


def test_same_image_behind_two_pages_is_kept_once():
    reg = KeyRegistry({"sha256": [("old", IN_DATASET, "some-id")]})
    out = dedupe_images([row("http://s/a", "h"), row("http://s/b", "h"), row("http://s/c", "old")], reg.claim)
    kept, dropped = sorted((0, 1), key=lambda i: out[i]["id"])  # the smaller id, in one call too
    assert [out[i]["status"] for i in (kept, dropped, 2)] == [OK, REJECTED, REJECTED]
    assert out[dropped]["reject_reason"] == f"same image as sample {out[kept]['id']} in this build"
    assert out[2]["reject_reason"] == "same image as sample some-id in the dataset"


def test_the_same_image_goes_to_the_smallest_sample_id_in_any_order():
    """Which page keeps a shared picture is a function of the pages, not of their arrival order."""
    urls = ["http://s/a", "http://s/b", "http://s/c", "http://s/d"]
    smallest = min(row(u)["id"] for u in urls)
    for order in (urls, urls[::-1], urls[1:] + urls[:1]):
        reg = KeyRegistry()
        holders = []
        for url in order:  # one row per call, as pages reach the image workers
            if dedupe_images([row(url, "h")], reg.claim)[0]["status"] == OK:
                holders.append(row(url)["id"])
        assert holders[-1] == smallest  # the last page let through holds it; earlier ones are displaced
        assert holders == sorted(holders, reverse=True)


# --------------------------------------------------------------------------- sharded registry


KEYS = [f"key-{i}" for i in range(2000)]


def test_shard_of_is_stable_across_processes_and_covers_every_shard():
    """blake2b, not hash(): another interpreter (another PYTHONHASHSEED) routes every key alike."""
    here = [shard_of(k, 4) for k in KEYS]
    code = ("import sys; from ilid_ray.dataset.dedupe import shard_of; "
            "print(','.join(str(shard_of(f'key-{i}', 4)) for i in range(2000)))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                           cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    assert here == [int(x) for x in there.split(",")]
    assert all(0 <= s < 4 for s in here)
    assert {s: here.count(s) for s in range(4)} == pytest.approx({s: 500 for s in range(4)}, abs=100)
    assert {shard_of(k, 1) for k in KEYS} == {0}


def test_split_keys_sends_each_key_to_exactly_its_shard_and_merge_restores_batch_order():
    keys = ["a", "b", "a", "c", "d", "e", "b"]  # duplicates within the batch
    owners = [f"o{i}" for i in range(len(keys))]
    parts = split_keys(keys, owners, 3)
    positions = sorted(i for where, _, _ in parts.values() for i in where)
    assert positions == list(range(len(keys)))  # every key exactly once
    for shard, (where, ks, os_) in parts.items():
        assert where == sorted(where)  # batch order kept within a shard
        assert ks == [keys[i] for i in where] and os_ == [owners[i] for i in where]
        assert all(shard_of(k, 3) == shard for k in ks)
    # each shard answers with its keys tagged: merge puts every verdict back at its key's position
    verdicts = [[(k, o) for k, o in zip(ks, os_)] for _, ks, os_ in parts.values()]
    assert merge_verdicts((w for w, _, _ in parts.values()), verdicts, len(keys)) == list(zip(keys, owners))


def test_preload_chunks_route_each_entry_once_in_order():
    preload = {"id": [(k, IN_DATASET, "") for k in KEYS], "sha256": [(k, IN_BUILD, k) for k in KEYS[:300]]}
    pieces = list(preload_chunks(preload, 3, chunk=250))
    assert all(sum(map(len, part.values())) <= 250 for _, part in pieces)
    for namespace, entries in preload.items():
        got = [e for _, part in pieces for e in part.get(namespace, [])]
        assert sorted(got) == sorted(entries)
        for shard in range(3):
            mine = [e for s, part in pieces if s == shard for e in part.get(namespace, [])]
            assert mine == [e for e in entries if shard_of(e[0], 3) == shard]  # original order


def sharded_in_process(preload, shards):
    """The sharded registry's routing over in-process KeyRegistry objects (no Ray)."""
    regs = [KeyRegistry() for _ in range(shards)]
    for s, part in preload_chunks(preload, shards, chunk=2):
        regs[s].load(part)

    def claim(namespace, keys, owners):
        parts = split_keys(keys, owners, shards)
        return merge_verdicts((w for w, _, _ in parts.values()),
                              [regs[s].claim(namespace, ks, os_) for s, (_, ks, os_) in parts.items()], len(keys))
    return claim


PRELOAD = {"id": [("gone", REMOVED, "gone"), ("old", IN_DATASET, "old"), ("adopted", IN_BUILD, "adopted"),
                  ("gone", IN_DATASET, "gone")],  # a takedown outranks a later entry of the same key
           "sha256": [("h-gone", REMOVED, "x"), ("h-old", IN_DATASET, "old"), ("h-adopted", IN_BUILD, "m")]}
CLAIMS = [  # (namespace, keys, owners)
    ("id", ["a", "b", "a", "old", "adopted", "gone", "c"], ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]),
    ("id", ["a", "b", "d"], ["r1", "other", "r8"]),  # re-claim by the same owner; a second claimant
    ("sha256", ["h1", "h-old", "h1", "h-gone", "h2"], ["a", "b", "c", "d", "e"]),
    ("sha256", ["h1", "h2", "h3"], ["a", "x", "f"]),
    # images go to the smallest owner: b displaces e (this build's) and k the adopted m; published
    # and taken-down images stay with their holder
    ("sha256", ["h2", "h-adopted", "h-old", "h-gone", "h2", "h-adopted"], ["b", "k", "a", "a", "e", "m"]),
    ("sha256", ["h9", "h8", "h9"], ["y", "q", "c"]),  # c displaces y of the same call: y is told
    ("new-namespace", ["a"], ["z"]),
]
EXPECTED = [
    [None, None, (TAKEN, "r1"), (IN_DATASET, "old"), (IN_BUILD, "adopted"), (REMOVED, "gone"), None],
    [None, (TAKEN, "r2"), None],
    [None, (IN_DATASET, "old"), (TAKEN, "a"), (REMOVED, "x"), None],
    [None, (TAKEN, "e"), None],
    [None, None, (IN_DATASET, "old"), (REMOVED, "x"), (TAKEN, "b"), (TAKEN, "k")],
    [(TAKEN, "c"), None, None],
    [None],
]


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_sharded_routing_gives_the_single_registry_verdicts(shards):
    single = KeyRegistry(PRELOAD)
    assert [single.claim(*c) for c in CLAIMS] == EXPECTED
    claim = sharded_in_process(PRELOAD, shards)
    assert [claim(*c) for c in CLAIMS] == EXPECTED


@pytest.mark.parametrize("shards", [1, 3])
def test_sharded_registry_actors_match_a_single_key_registry(ray_local, shards):
    import pickle

    single = ray_local.remote(KeyRegistry).options(num_cpus=0).remote(PRELOAD)
    registry = dedupe.start_registry(PRELOAD, shards, chunk=2)
    try:
        assert registry.shards == shards and len(registry.actors) == shards
        want = [ray_local.get(single.claim.remote(*c), timeout=60) for c in CLAIMS]
        assert want == EXPECTED
        claim = pickle.loads(pickle.dumps(registry)).claim  # as a task gets it
        assert [claim(*c) for c in CLAIMS] == want
        assert registry.size("id") == ray_local.get(single.size.remote("id"))
        # the stage on it (the same page crawled twice: two owners), then a claim from a Ray task
        twice = [row("http://s/x"), row("http://s/x")]
        twice[1]["crawled_at"] = "t2"
        rows = dedupe_urls(twice, registry.claim)
        assert [r["status"] for r in rows] == [OK, REJECTED]
        again = ray_local.get(ray_local.remote(lambda reg: [v is None for v in reg.claim("id", [rows[0]["id"]], ["t"])])
                              .options(num_cpus=0).remote(registry), timeout=60)
        assert again == [False]
    finally:
        registry.kill()
        ray_local.kill(single)
