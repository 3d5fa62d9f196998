"""What a product reader returns: the paper's crawl record (label + image URLs + text blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ProductRecord:
    label: str | None = None  # the page title
    image_urls: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)  # description, material, finish, "key: value" rows
    # json-ld | microdata | rdfa | opengraph | selectors | custom | heuristic; "+heuristic" when the
    # generic reader filled a missing title or image; None: nothing found
    found_by: str | None = None
    rights: str | None = None  # the page's schema.org license / copyrightHolder, if it states one

    def problem(self) -> str | None:
        """Why this page cannot become a raw record (the crawl's reject reason), or None."""
        if self.found_by is None:
            return "no product markup"
        if not self.label:
            return "no title"
        if not self.image_urls:
            return "no image"
        return None
