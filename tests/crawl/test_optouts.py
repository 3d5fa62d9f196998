"""Publisher opt-out rules (ilid_ray.optouts), shared by the crawler and the image downloader."""

from __future__ import annotations

import pytest

from ilid_ray.optouts import agent_token, header_reason, parse_tdmrep, robots_directives, tdmrep_reason


def test_agent_token():
    assert agent_token("ilid-ray/0.1 (+https://github.com/ilid-ray/ilid-ray)") == "ilid-ray"
    assert agent_token("MyCrawler") == "mycrawler"


@pytest.mark.parametrize("values, found", [
    (["noai, noimageai"], {"noai", "noimageai"}),
    (["NoIndex"], {"noindex"}),
    (["ilid-ray: noimageai"], {"noimageai"}),
    (["*: noai"], {"noai"}),
    (["googlebot: noindex", "otherbot: noai"], set()),
    (["unavailable_after: 25 Jun 2030 15:00:00 PST"], {"unavailable_after: 25 jun 2030 15:00:00 pst"}),
    (["googlebot: noindex", "noimageindex"], {"noimageindex"}),
])
def test_robots_directives_apply_only_to_us(values, found):
    assert robots_directives(values, "ilid-ray") == found


def headers(**values):
    table = {k.replace("_", "-").lower(): v for k, v in values.items()}
    return lambda name: table.get(name.lower(), [])


def test_header_reason_order_and_switches():
    both = headers(X_Robots_Tag=["noindex, noai"], tdm_reservation=["1"])
    assert header_reason(both, "ilid-ray") == "opt-out: X-Robots-Tag noai, noindex"
    assert header_reason(both, "ilid-ray", x_robots_tag=False) == "opt-out: tdm-reservation header"
    assert header_reason(both, "ilid-ray", x_robots_tag=False, tdmrep=False) is None
    assert header_reason(headers(tdm_reservation=["0"], X_Robots_Tag=["max-snippet: 20"]), "ilid-ray") is None


def test_tdmrep_first_matching_rule_decides():
    rules = parse_tdmrep(b'[{"location": "/media/free/*", "tdm-reservation": 0},'
                         b' {"location": "/media/*", "tdm-reservation": 1, "tdm-policy": "https://x/p.json"},'
                         b' {"location": "*.png$", "tdm-reservation": 1}]')
    assert tdmrep_reason(rules, "/media/free/a.jpg") is None
    assert tdmrep_reason(rules, "/media/b.jpg") == "opt-out: tdmrep.json reserves /media/*"
    assert tdmrep_reason(rules, "/img/c.png") == "opt-out: tdmrep.json reserves *.png$"
    assert tdmrep_reason(rules, "/img/c.png?x=1") is None
    assert parse_tdmrep(b"<html>not json</html>") == [] and parse_tdmrep(b'{"a": 1}') == []
