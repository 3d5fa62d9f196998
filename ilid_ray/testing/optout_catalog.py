"""A fixture catalog whose publisher opts out in every machine-readable way we honour, lists URLs
of other schemes, and walks its sitemaps forever if let.

On top of a plain `FixtureCatalog` (no other faults), product `i` of `OPT_OUTS` order carries one
case: page-level (crawl rejects it), image-level (the downloader rejects it), a control that must
pass (`image_x_robots_other_agent`: a directive scoped to another crawler) and a page with a
licence (`rights`). `scheme_urls` are listed in an extra sitemap as product pages, and one more
sitemap entry is a non-http sitemap: the crawl must reject every one without connecting. With
`generated_sitemaps`, `/sitemaps/gen-0.xml` is an index whose children are indexes again, two per
level, without end: only the walk caps stop it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ilid_ray.testing import pages
from ilid_ray.testing.catalog import DISALLOWED_PREFIX, Fault, FixtureCatalog, Reply

LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
ROBOTS_BLOCKED_MEDIA = "/media/noai/"  # robots.txt of the (image) host disallows it
RESERVED_MEDIA = "/media/reserved/"  # tdmrep.json reserves it
TDMREP = '[{"location": "/media/reserved/*", "tdm-reservation": 1}, {"location": "/*", "tdm-reservation": 0}]'

OPT_OUTS: dict[str, Fault] = {
    "meta_noimageai": Fault("crawl", "opt-out: meta robots noimageai", '<meta name="robots" content="noimageai">'),
    "meta_agent_noai": Fault("crawl", "opt-out: meta robots noai", '<meta name="ilid-ray" content="noai">'),
    "tdm_meta": Fault("crawl", "opt-out: tdm-reservation meta tag", '<meta name="tdm-reservation" content="1">'),
    "page_x_robots": Fault("crawl", "opt-out: X-Robots-Tag noindex", "page header X-Robots-Tag: noindex"),
    "page_tdm_header": Fault("crawl", "opt-out: tdm-reservation header", "page header tdm-reservation: 1"),
    "image_x_robots": Fault("download", "opt-out: X-Robots-Tag noai, noimageai",
                            "image header X-Robots-Tag: noai, noimageai"),
    "image_x_robots_scoped": Fault("download", "opt-out: X-Robots-Tag noimageai",
                                   "image header X-Robots-Tag: ilid-ray: noimageai"),
    "image_tdm_header": Fault("download", "opt-out: tdm-reservation header", "image header tdm-reservation: 1"),
    "image_tdmrep_json": Fault("download", "opt-out: tdmrep.json reserves /media/reserved/*",
                               "image under a path tdmrep.json reserves"),
    "image_robots": Fault("download", "opt-out: image host robots.txt disallows it",
                          "image under a path the host's robots.txt disallows"),
    "image_ftp": Fault("crawl", "no image", "the only image URL is ftp:// (the trap): readers keep http(s) only"),
    "image_x_robots_other_agent": Fault("ok", None, "image header X-Robots-Tag: otherbot: noai (not us)"),
    "rights": Fault("ok", None, '<link rel="license"> on the page'),
}
PAGE_HEADERS = {"page_x_robots": {"X-Robots-Tag": "noindex"}, "page_tdm_header": {"tdm-reservation": "1"}}
IMAGE_HEADERS = {"image_x_robots": {"X-Robots-Tag": "noai, noimageai"},
                 "image_x_robots_scoped": {"X-Robots-Tag": "ilid-ray: noimageai"},
                 "image_tdm_header": {"tdm-reservation": "1"},
                 "image_x_robots_other_agent": {"X-Robots-Tag": "otherbot: noai"}}
MEDIA_PREFIX = {"image_robots": ROBOTS_BLOCKED_MEDIA, "image_tdmrep_json": RESERVED_MEDIA}


class OptOutCatalog(FixtureCatalog):
    def __init__(self, name: str, trap_url: str, n_products: int = 16, scheme_urls: tuple[str, ...] = (),
                 generated_sitemaps: bool = False, **kwargs):
        super().__init__(name, n_products=max(n_products, len(OPT_OUTS) + 2), faults=False, **kwargs)
        self.trap_url = trap_url.rstrip("/")  # e.g. ftp://127.0.0.1:<trap port>
        self.scheme_urls = tuple(scheme_urls)
        self.generated_sitemaps = generated_sitemaps
        self.case_of = dict(enumerate(OPT_OUTS))

    # ------------------------------------------------------------------ what a crawl must find
    @property
    def expected(self) -> dict[str, str]:
        out = {}
        for url, kind in super().expected.items():
            index = self.product_at(url).index
            out[url] = self.case_of.get(index, kind) if kind == "ok" else kind
        out.update((url, "scheme") for url in self.scheme_urls)
        return out

    def expected_crawl_reason(self, url: str) -> str | None:
        kind = self.expected[url]
        if kind == "scheme":
            return f"unsupported scheme: {url.split(':', 1)[0]}"
        if kind in OPT_OUTS:
            return OPT_OUTS[kind].reason if OPT_OUTS[kind].stage == "crawl" else None
        return super().expected_crawl_reason(url)

    def expected_download_reason(self, url: str) -> str | None:
        """The reject reason the downloader must give a page the crawl accepts (None: a sample)."""
        fault = OPT_OUTS.get(self.expected[url])
        return fault.reason if fault and fault.stage == "download" else None

    def image_urls(self, index: int) -> list[str]:
        case = self.case_of.get(index)
        urls = super().image_urls(index)
        if case == "image_ftp":
            return [self.trap_url + self.image_path(index, 0)]
        if case in MEDIA_PREFIX:
            return [u.replace("/media/", MEDIA_PREFIX[case], 1) for u in urls]
        return urls

    # ------------------------------------------------------------------ routing
    def respond(self, target: str) -> Reply:
        path = target.split("?", 1)[0]
        base = self._base()
        if path == "/robots.txt":
            text = pages.robots_txt(f"{base}/sitemap_index.xml", [DISALLOWED_PREFIX, "/cart/", ROBOTS_BLOCKED_MEDIA])
            return Reply.text(200, text, "text/plain; charset=utf-8")
        if path == "/.well-known/tdmrep.json":
            return Reply(200, "application/json", TDMREP.encode())
        if path == "/sitemap_index.xml":
            index = super().respond(target)
            extra = [f"{base}/sitemaps/schemes.xml", f"{self.trap_url}/sitemaps/ftp.xml"]
            extra += [f"{base}/sitemaps/gen-0.xml"] if self.generated_sitemaps else []
            return replace(index, body=index.body.replace(b"</sitemapindex>", "".join(
                f"<sitemap><loc>{u}</loc></sitemap>" for u in extra).encode() + b"</sitemapindex>"))
        if path == "/sitemaps/schemes.xml":
            return Reply.text(200, pages.urlset(list(self.scheme_urls)), "application/xml")
        if match := re.fullmatch(r"/sitemaps/gen-(\d+)\.xml", path):
            if not self.generated_sitemaps:
                return super().respond(target)
            n = int(match.group(1))
            return Reply.text(200, pages.sitemap_index(
                [f"{base}/sitemaps/gen-{2 * n + 1}.xml", f"{base}/sitemaps/gen-{2 * n + 2}.xml"]), "application/xml")
        for prefix in (ROBOTS_BLOCKED_MEDIA, RESERVED_MEDIA):
            if path.startswith(prefix):
                return super().respond(target.replace(prefix, "/media/", 1))
        return super().respond(target)

    def _product_page(self, index: int, query: str) -> Reply:
        reply = super()._product_page(index, query)
        case = self.case_of.get(index)
        if case is None:
            return reply
        head = OPT_OUTS[case].what if OPT_OUTS[case].what.startswith("<meta") else ""
        if case == "rights":
            head = f'<link rel="license" href="{LICENSE_URL}">'
        body = reply.body.replace(b"</head>", head.encode() + b"</head>", 1) if head else reply.body
        return replace(reply, body=body, headers={**reply.headers, **PAGE_HEADERS.get(case, {})})

    def _image(self, index: int, k: int) -> Reply:
        reply = super()._image(index, k)
        return replace(reply, headers={**reply.headers, **IMAGE_HEADERS.get(self.case_of.get(index), {})})

    def generated_sitemap_depth(self, path: str) -> int | None:
        """Depth of a generated sitemap (robots.txt 0, sitemap_index 1, gen-0 2, its children 3, ...)."""
        match = re.fullmatch(r"/sitemaps/gen-(\d+)\.xml", path)
        return None if match is None else 2 + (int(match.group(1)) + 1).bit_length() - 1
