"""What printing other scripts costs (docs/documents-and-e-invoicing.md): render time and PDF size of a
one-line invoice whose buyer and line are written in Latin, in CJK (Noto Sans CJK, a 33 MB collection,
subset when embedded), and in a mix of every shipped script, rendered by the documents' own render_pdf
(Typst, PDF/A-3b).

Each kind is measured in a fresh process (spawned, as the rendering pool's are): `first` is its first render,
loading Typst and the fonts it needs; then `--renders` renders, each with another invoice number so no
render is a cached one, give the median and p90. Prints a Markdown table.
  .venv/bin/python scripts/bench_scripts_render.py [--renders 30]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KINDS = {
    "Latin": ("Acme SARL", "Consulting, March"),
    "CJK": ("株式会社トヨタ", "ソフトウェア開発（三月分）"),
    "every script": (
        "株式会社トヨタ · Ελληνικά · Кириллица",
        "עברית العربية ภาษาไทย हिन्दी 한국어 中文 Deploy 🚀",
    ),
}


def measure(kind: str, renders: int) -> dict[str, float]:
    """Runs in a fresh process: the first render, then `renders` more with other numbers."""
    import msgspec
    from sample_invoice import worked_example

    from app.documents.pdf import render_pdf

    buyer, description = KINDS[kind]
    base = worked_example(locale="de", e_invoice="none")
    data = msgspec.structs.replace(
        base,
        buyer=msgspec.structs.replace(base.buyer, name=buyer),
        lines=[msgspec.structs.replace(base.lines[0], description=description)],
    )
    moment = datetime(2026, 11, 27, tzinfo=UTC)
    started = time.perf_counter()
    pdf = render_pdf(data, rendered_at=moment)
    first = time.perf_counter() - started
    times = []
    for index in range(renders):
        numbered = msgspec.structs.replace(data, number=f"INV-{index + 2:04d}")
        started = time.perf_counter()
        render_pdf(numbered, rendered_at=moment)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "first": first,
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "size": len(pdf),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=30)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    print("| invoice (1 line) | first render | median | p90 | PDF size |")
    print("|---|---:|---:|---:|---:|")
    for kind in KINDS:
        with context.Pool(1) as pool:
            result = pool.apply(measure, (kind, args.renders))
        print(
            f"| {kind} | {result['first'] * 1000:.0f} ms | {result['median'] * 1000:.1f} ms "
            f"| {result['p90'] * 1000:.1f} ms | {result['size'] / 1024:.1f} KiB |"
        )


if __name__ == "__main__":
    main()
