"""A streamed run's memory does not grow with the table: peak anonymous memory (RssAnon, sampled every 10 ms)
of ``bprop train --stream`` and ``bprop predict --stream`` grows by less than 20 % when the same kind of
table grows from 50 MB to 200 MB (issue 15's bound; the in-memory path grows about fourfold).

A peak is the maximum of a noisy series: the reading threads' timing moves it by 5-10 MB from run to run,
and a longer run has more chances to catch a high one. A training peak (cache passes and epoch) is therefore
the lower of two runs; predict, which streams through the file once, varies less.
"""

import shutil
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
        cache = folder / f"c{n_rows}"
        train = [
            "train",
            data,
            "--stream",
            "--cache",
            cache,
            "--epochs",
            "1",
            "--patience",
            "0",
            "--quiet",
            "--out",
            model,
        ]
        predict = ["predict", model, data, "--stream", "--out", folder / f"p{n_rows}.csv"]
        for name, argv in (("train", train), ("predict", predict)):
            command = [sys.executable, "-m", "bprop.cli", *map(str, argv)]
            runs = []
            for _ in range(2 if name == "train" else 1):
                shutil.rmtree(cache, ignore_errors=True)  # every training run builds its cache (two passes)
                runs.append(peak_rss_anon(command, folder)[1])
            found[name, n_rows] = min(runs)
        assert (folder / f"p{n_rows}.csv").read_text().count("\n") == n_rows + 1
    return found


@pytest.mark.parametrize("command", ["train", "predict"])
def test_peak_memory_hardly_grows_with_the_table(peaks, command):
    small, large = peaks[command, SMALL], peaks[command, LARGE]
    assert large < 1.2 * small, f"{command}: {small / 1e6:.0f} MB at 50 MB of CSV, {large / 1e6:.0f} MB at 200 MB"
    assert large < 400e6  # and it stays small in absolute terms
