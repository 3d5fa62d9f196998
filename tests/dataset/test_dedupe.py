from ilid_ray.dataset.dedupe import IN_BUILD, IN_DATASET, KeyRegistry, dedupe_images, dedupe_urls
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
    assert [r["status"] for r in out] == [OK, REJECTED, REJECTED]
    assert out[1]["reject_reason"] == f"same image as sample {out[0]['id']} in this build"
    assert out[2]["reject_reason"] == "same image as sample some-id in the dataset"
