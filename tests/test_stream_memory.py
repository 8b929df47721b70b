"""A streamed run's memory does not grow with the table: peak anonymous memory (RssAnon, sampled every 50 ms)
of ``bprop train --stream`` and ``bprop predict --stream`` grows by less than 20 % when the same kind of
table grows from 50 MB to 200 MB. (The in-memory path grows about fourfold.)"""

import sys

import pytest

from stream_support import peak_rss_anon, write_wide_csv

pytest.importorskip("pyarrow")

# Rows of about 240 bytes: 50 MB and 200 MB files.
SMALL, LARGE = 210_000, 840_000


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
    assert large < 1.2 * small, f"{command}: {small / 1e6:.0f} MB at 50 MB of CSV, {large / 1e6:.0f} MB at 200 MB"
    assert large < 400e6  # and it stays small in absolute terms
