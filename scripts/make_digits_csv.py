"""Regenerate src/bprop/datasets/digits.csv.gz from scikit-learn's bundled copy (no download).

Run once by a maintainer: ``python scripts/make_digits_csv.py``. The output is byte-for-byte
reproducible (gzip header timestamp fixed at 0), so re-running it leaves git clean.
"""

import gzip
import io
from pathlib import Path

from sklearn.datasets import load_digits

OUT = Path(__file__).resolve().parents[1] / "src" / "bprop" / "datasets" / "digits.csv.gz"


def main() -> None:
    digits = load_digits()
    header = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)] + ["label"]
    text = io.StringIO()
    text.write(",".join(header) + "\n")
    for row, label in zip(digits.data.astype(int), digits.target):
        text.write(",".join(map(str, row)) + f",{label}\n")
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(text.getvalue().encode("ascii"))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(digits.target)} rows)")


if __name__ == "__main__":
    main()
