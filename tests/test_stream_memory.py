"""A streamed run's memory hardly grows with the table. From a 50 MB to a 200 MB table of the same kind, the
peak anonymous memory (RssAnon, sampled every 10 ms) of ``bprop train --stream`` and ``bprop predict
--stream`` grows by less than 60 bytes per extra row, where the in-memory path spends over a kilobyte.

Some growth is owed: the split, each epoch's order and the class labels keep a few int32 per row (about
24 bytes). The allowance is per row rather than a ratio of peaks because a peak also varies by 10-20 MB
from run to run with the timing of the reading threads."""

import sys

import pytest

from stream_support import peak_rss_anon, write_wide_csv

pytest.importorskip("pyarrow")

# Rows of about 240 bytes: 50 MB and 200 MB files.
SMALL, LARGE = 210_000, 840_000
BYTES_PER_ROW = 60


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory")
    found = {}
    for n_rows in (SMALL, LARGE):
        data = folder / f"t{n_rows}.csv"
        write_wide_csv(data, n_rows)
        model = folder / f"m{n_rows}.safetensors"
        train = ["train", data, "--stream", "--epochs", "1", "--patience", "0", "--quiet", "--out", model]
        predict = ["predict", model, data, "--stream", "--out", folder / f"p{n_rows}.csv"]
        for name, argv in (("train", train), ("predict", predict)):
            found[name, n_rows] = peak_rss_anon([sys.executable, "-m", "bprop.cli", *map(str, argv)], folder)[1]
        assert (folder / f"p{n_rows}.csv").read_text().count("\n") == n_rows + 1
    return found


@pytest.mark.parametrize("command", ["train", "predict"])
def test_peak_memory_hardly_grows_with_the_table(peaks, command):
    small, large = peaks[command, SMALL], peaks[command, LARGE]
    growth = (large - small) / (LARGE - SMALL)
    assert growth < BYTES_PER_ROW, (
        f"{command}: {small / 1e6:.0f} MB at 50 MB of CSV, {large / 1e6:.0f} MB at 200 MB: {growth:.0f} bytes per row"
    )
    assert large < 400e6  # and it stays small in absolute terms
