"""What a dataset version holds: Table-1-style unique counts and the top words per label field
(the paper's Fig. 6)."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import pyarrow as pa

from ilid_ray.records import FIELDS

STOPWORDS = frozenset("a an and for in of on or the to with without x".split())
_WORD = re.compile(r"[a-z][a-z\-]+")


def unique_counts(manifest: pa.Table) -> dict[str, Any]:
    """Samples, and per field how many samples have it and how many distinct values it takes."""
    fields = {}
    for name in FIELDS:
        values = [v for v in manifest.column(name).to_pylist() if v]
        fields[name] = {"present": len(values), "unique": len(set(values))}
    sources = Counter(manifest.column("source").to_pylist())
    return {"samples": manifest.num_rows, "fields": fields, "per_source": dict(sorted(sources.items()))}


def top_words(values: list[str | None], n: int = 40) -> list[tuple[str, int]]:
    words: Counter[str] = Counter()
    for value in values:
        words.update(w for w in _WORD.findall((value or "").lower()) if w not in STOPWORDS)
    return words.most_common(n)


def top_words_png(manifest: pa.Table, fields: tuple[str, ...] = ("label_short", "label_long"), n: int = 40) -> bytes:
    """Horizontal bar charts of the n most frequent words of each label field, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fields), figsize=(6 * len(fields), 0.22 * n + 1.5), squeeze=False)
    for ax, name in zip(axes[0], fields):
        pairs = top_words(manifest.column(name).to_pylist(), n)[::-1]
        ax.barh([w for w, _ in pairs], [c for _, c in pairs], color="#4C72B0")
        ax.set_title(f"top {n} words: {name}")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("occurrences")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def format_table(counts: dict[str, Any]) -> str:
    lines = [f"samples: {counts['samples']}", f"{'field':<18}{'present':>10}{'unique':>10}"]
    for name, c in counts["fields"].items():
        lines.append(f"{name:<18}{c['present']:>10}{c['unique']:>10}")
    lines.append("per source: " + ", ".join(f"{s}={n}" for s, n in counts["per_source"].items()))
    return "\n".join(lines)
