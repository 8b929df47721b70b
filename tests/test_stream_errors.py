"""Bad input to the streamed path: one ``error:`` line, no cache left where it would be reused, the source
file never modified."""

import errno
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from bprop.tables.stream import cache as cache_module
from bprop.tables.stream import open_streamed, reader
from cli_support import FAST, assert_one_error, mixed_table, regression_table, run, write_csv

pytest.importorskip("pyarrow")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_no_usable_cache(folder):
    """Nothing a later run would reuse: no manifest, no half-built folder."""
    assert not (folder / cache_module.MANIFEST).exists()
    assert not list(folder.glob(".bprop-building*")) if folder.exists() else True


def test_a_file_that_changes_while_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 2048)
    data = write_csv(tmp_path / "t.csv", regression_table(1000))
    batches = reader.TableFile._csv_batches

    def growing(self, columns):
        for i, item in enumerate(batches(self, columns)):
            if i == 1:
                with open(self.path, "a") as f:
                    f.write("1,2,3\n")
            yield item

    monkeypatch.setattr(reader.TableFile, "_csv_batches", growing)
    with pytest.raises(ValueError, match="changed while it was being read; wait until it is completely written"):
        open_streamed(data, "price", cache=tmp_path / "c", log=None)
    assert_no_usable_cache(tmp_path / "c")


def test_a_truncated_parquet_file(tmp_path, capsys):
    table = pd.read_csv(write_csv(tmp_path / "t.csv", mixed_table(200)))
    path = tmp_path / "t.parquet"
    table.to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[:-100])
    before = digest(path)
    for flag in ("--stream", "--no-stream"):
        code, out, err = run(capsys, "train", path, *FAST, flag, "--cache", tmp_path / "c")
        assert_one_error(code, out, err, "t.parquet", "not a complete Parquet file")
    assert digest(path) == before
    assert_no_usable_cache(tmp_path / "c")


def test_a_cache_folder_that_cannot_be_written(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(100))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", blocker / "cache")
    assert_one_error(code, out, err, "cannot write the cache", "--cache DIR")
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", blocker)
    assert_one_error(code, out, err, "is a file, not a folder")


def test_a_foreign_folder_is_never_overwritten(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(100))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "not a bprop cache", "holiday.jpg", "empty or new folder")
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]


def test_a_damaged_cache_is_refused_not_reused(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", regression_table(300))
    folder = tmp_path / "c"
    assert run(capsys, "train", data, *FAST, "--stream", "--cache", folder)[0] == 0
    numeric = folder / "numeric.npy"
    numeric.write_bytes(numeric.read_bytes()[:200])
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "damaged", "delete the folder")
    manifest = json.loads((folder / cache_module.MANIFEST).read_text())
    (folder / cache_module.MANIFEST).write_text(json.dumps({**manifest, "format": "something-else"}))
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "damaged (its manifest is not readable)", "delete the folder")
    # A manifest of ours that names no source is stale, not damaged: the cache is built again.
    (folder / cache_module.MANIFEST).write_text(json.dumps({"format": cache_module.FORMAT, "version": 1}))
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert code == 0 and "cache: wrote 300 rows" in out, err
    # Without its manifest (a build stopped while moving its files in) the folder is rebuilt.
    (folder / cache_module.MANIFEST).unlink()
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert code == 0 and "cache: wrote 300 rows" in out, err


def test_codes_outside_their_dictionaries_are_refused(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(300))
    folder = tmp_path / "c"
    assert run(capsys, "train", data, *FAST, "--stream", "--cache", folder)[0] == 0
    codes = np.load(folder / "codes.npy")
    codes[5, 0] = 99
    np.save(folder / "codes.npy", codes)
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "damaged (codes.npy holds codes outside its dictionaries)")
    codes[5, 0] = 1
    np.save(folder / "codes.npy", codes)
    np.save(folder / "target.npy", np.full(300, 7, np.int32))
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "damaged (target.npy holds codes outside its labels)")


def test_a_disk_that_fills_during_the_cache_write(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 2048)
    data = write_csv(tmp_path / "t.csv", regression_table(1000))
    before = digest(data)
    write = cache_module._ArrayWriter.write
    calls = []

    def full_disk(self, block):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(self, block)

    monkeypatch.setattr(cache_module._ArrayWriter, "write", full_disk)
    folder = tmp_path / "c"
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--cache", folder)
    assert_one_error(code, out, err, "is full", "the cache was not written")
    assert_no_usable_cache(folder)
    assert not folder.exists()  # created by this run, so removed again
    assert digest(data) == before
    assert not (tmp_path / "model.safetensors").exists()


def test_streaming_needs_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "/dev/stdin", *FAST, "--stream")
    assert_one_error(code, out, err, "must be a file, not a pipe")
    code, out, err = run(capsys, "train", *FAST, "--stream")
    assert_one_error(code, out, err, "bundled digits needs --cache DIR")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("a,b,y\n1,2,0\n3,4,5,6\n", ("not valid CSV", "Expected 3 columns")),
        ("a,b,y\n" + "".join(f"{i},{i},x{i % 2}\n" for i in range(30)) + "1,2,7\n", ()),
        ("\x00\x01binary", ("not a CSV file",)),
        ("", ("is empty",)),
        ("a,b,y\n", ("no data rows",)),
    ],
)
def test_bad_csv_files_fail_in_one_line(tmp_path, capsys, text, fragments):
    data = tmp_path / "t.csv"
    data.write_bytes(text.encode())
    before = digest(data)
    code, out, err = run(capsys, "train", data, *FAST, "--stream", "--val-split", "0", "--test-split", "0.3")
    if not fragments:  # a valid file (a string label with a stray number): it trains
        assert code == 0, err
        return
    assert_one_error(code, out, err, *fragments)
    assert digest(data) == before
    assert_no_usable_cache(tmp_path / "t.csv.bprop-cache")


def test_a_regression_target_with_stray_text(tmp_path, capsys):
    rows = "".join(f"{i},{i * 1.5}\n" for i in range(40)) + "41,n/a!\n"
    data = write_csv(tmp_path / "t.csv", "a,y\n" + rows)
    for flag in ("--stream", "--no-stream"):
        code, out, err = run(capsys, "train", data, *FAST, flag)
        assert_one_error(code, out, err, "target column 'y' looks numeric", "'n/a!'")


def test_predict_refuses_a_file_without_the_features(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", mixed_table(200))
    model = tmp_path / "m.safetensors"
    assert run(capsys, "train", data, *FAST, "--out", model)[0] == 0
    other = write_csv(tmp_path / "o.csv", "x1,colour\n1,red\n")
    code, out, err = run(capsys, "predict", model, other, "--stream")
    assert_one_error(code, out, err, "missing feature column(s) ['x2']")
    code, out, err = run(capsys, "evaluate", model, other, "--stream")
    assert_one_error(code, out, err, "no target column 'kind'")
    text = write_csv(tmp_path / "x.csv", "x1,x2,colour,kind\n1,oops,red,cat\n")
    code, out, err = run(capsys, "predict", model, text, "--stream")
    assert_one_error(code, out, err, "column 'x2' was numeric when the model was trained but contains 'oops'")
