"""Is saxonche safe in a long-running server? Validates the worked example's Factur-X XML 1,000 times in
one process, on the thread that created the Saxon runtime (as each rendering process does), and prints the
RSS after 100 and after 1,000 validations and the time per validation.
Usage: .venv/bin/python scripts/saxon_memory.py [count]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sample_invoice import worked_example

from app.documents.cii import build_cii
from app.documents.validation import validate


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    xml = build_cii(worked_example())
    started = time.perf_counter()
    validate(xml)
    print(f"first validation (compiles the Schematron XSLT): {time.perf_counter() - started:.2f} s")
    print(f"RSS after 1 validation: {rss_mb():.1f} MB")
    after_100 = 0.0
    started = time.perf_counter()
    for done in range(2, count + 1):
        report = validate(xml)
        assert report.valid, report.errors
        if done == 100:
            after_100 = rss_mb()
            print(f"RSS after 100 validations: {after_100:.1f} MB")
    elapsed = time.perf_counter() - started
    final = rss_mb()
    print(f"RSS after {count} validations: {final:.1f} MB (growth since 100: {final - after_100:+.1f} MB)")
    print(f"per validation (XSD + Schematron): {elapsed / (count - 1) * 1000:.1f} ms")
    if final - after_100 > 50:
        raise SystemExit("RSS grew by more than 50 MB between 100 and 1,000 validations")


if __name__ == "__main__":
    main()
