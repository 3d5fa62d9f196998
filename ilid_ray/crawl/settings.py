"""Scrapy settings of a catalog crawl, derived from the typed config (the only knob set)."""

from __future__ import annotations

from typing import Any

from ilid_ray.config import CrawlConfig, NetworkConfig
from ilid_ray.crawl.guard import ALLOW_SETTING

# Only http(s) is ever crawled: Scrapy's other handlers (file, ftp, s3, data) are switched off, so
# even a request that got past the guard could not read a local file or open an FTP connection.
DISABLED_HANDLERS = {"file": None, "ftp": None, "s3": None, "data": None}


def crawl_settings(crawl: CrawlConfig, network: NetworkConfig, log_level: str = "INFO") -> dict[str, Any]:
    return {
        "BOT_NAME": "ilid-ray",
        "USER_AGENT": network.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        # polite per-domain crawling
        "CONCURRENT_REQUESTS": max(16, crawl.concurrency_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": crawl.autothrottle_target_concurrency,
        "AUTOTHROTTLE_START_DELAY": crawl.autothrottle_start_delay_s,
        "AUTOTHROTTLE_MAX_DELAY": crawl.autothrottle_max_delay_s,
        # failures end as rejects, after bounded effort
        "RETRY_TIMES": crawl.retry_times,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout_s,
        "DNS_TIMEOUT": crawl.download_timeout_s,
        "DOWNLOAD_HANDLERS": dict(DISABLED_HANDLERS),
        "CLOSESPIDER_TIMEOUT": crawl.max_crawl_s,  # wall-time cap of one catalog's crawl
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": crawl.max_page_bytes // 2,
        # the address guard runs before everything else (offsite, robots.txt, retries)
        "DOWNLOADER_MIDDLEWARES": {"ilid_ray.crawl.guard.AddressGuardMiddleware": 10},
        "TWISTED_DNS_RESOLVER": "ilid_ray.crawl.guard.GuardedResolver",
        ALLOW_SETTING: list(network.allow_private),
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": log_level,
        "LOGSTATS_INTERVAL": 30.0,
    }
