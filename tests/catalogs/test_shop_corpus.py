"""The real-markup corpus: every kind of shop markup reads to the right title, main image and
material (the fast, in-process form of bench/reader_coverage.py; no network)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ilid_ray.catalogs.reader import read_product
from ilid_ray.testing.shops.corpus import KINDS, ShopCorpus


def test_corpus_covers_the_shop_systems_and_serves_its_pages():
    corpus = ShopCorpus(pages_per_template=1)
    corpus.bind("http://127.0.0.1:9", "")
    assert {s for s, _ in KINDS} >= {"shopify", "woocommerce", "magento", "sap-commerce", "shopware", "pim-export",
                                     "marketplace", "small-shop"}
    assert ShopCorpus().n_pages >= 60
    url = next(iter(corpus.truth))
    assert corpus.respond(urlsplit(url).path).status == 200
    image = corpus.respond(urlsplit(corpus.truth[url].image).path)
    assert image.status == 200 and image.content_type.startswith("image/")
    assert corpus.respond("/products/nope-1.html").status == 404
    assert url in corpus.respond("/sitemap.xml").body.decode()


def test_every_kind_of_markup_reads_right():
    corpus = ShopCorpus(pages_per_template=1)
    corpus.bind("http://127.0.0.1:9", "")
    wrong = []
    for index, (url, truth) in enumerate(corpus.truth.items()):
        record = read_product(corpus.html(index), corpus.spec(), url)
        found = (record.label, urlsplit(record.image_urls[0]).path if record.image_urls else None,
                 any(truth.material in row for row in record.data))
        if record.problem() or found != (truth.title, urlsplit(truth.image).path, True):
            wrong.append((truth.template, record.found_by, found))
    assert wrong == []
