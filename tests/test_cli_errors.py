"""Every bad input of issue 5: exit status 2, one ``error: …`` line naming the problem and the fix, no
traceback, and no file written or overwritten."""

import builtins
import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import bprop
import bprop.modelfile
import bprop.nn.network
import bprop.tables.data
from cli_support import FAST, assert_one_error, mixed_table, run, run_process, snapshot, train_model

PRECIOUS = b"a model the user wants to keep"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A sound classifier (string labels, a string feature) and its training CSV."""
    return train_model(tmp_path_factory.mktemp("trained"), "pets", mixed_table())


@pytest.fixture
def work(tmp_path, monkeypatch, trained):
    """A working folder holding data files, a sound model, and outputs that must survive any error."""
    monkeypatch.chdir(tmp_path)
    model, data = trained
    shutil.copy(model, tmp_path / "good.safetensors")
    shutil.copy(data, tmp_path / "pets.csv")
    (tmp_path / "model.safetensors").write_bytes(PRECIOUS)  # train's default --out
    (tmp_path / "preds.csv").write_bytes(PRECIOUS)
    return tmp_path


def check(capsys, folder, argv, *fragments):
    """Run, check the single error line, and that the folder is byte-for-byte as before."""
    before = snapshot(folder)
    message = assert_one_error(*run(capsys, *argv), *fragments)
    assert snapshot(folder) == before
    return message


# -- train: data files ---------------------------------------------------------------------------------

TRAIN_DATA_CASES = {
    "missing file": ("", ["nope.csv", "not found", "check the path"]),
    "empty file": (b"", ["empty", "header line"]),
    "blank lines only": (b"\n\n\n", ["empty", "header line"]),
    "header only": (b"a,b,y\n", ["no data rows", "add at least one row"]),
    "binary file": (bytes(range(256)) * 4, ["not a CSV file", "export the table as CSV"]),
    "not UTF-8 text": ("x,y\n1,caf\xe9\n2,th\xe9\n".encode("latin-1"), ["not a CSV text file", "UTF-8"]),
    "ragged rows": (b"a,b,y\n1,2,3\n4,5,6,7,8\n", ["not valid CSV", "delimiter"]),
    "unknown target column": (None, ["unknown target column 'zz'", "x1, x2, colour, kind"]),
    "one class": (b"a,y\n1,z\n2,z\n3,z\n4,z\n", ["single class 'z'", "at least two classes"]),
    "non-numeric target for regression": (None, ["'kind' is not numeric", "classification"]),
    "missing target values": (b"a,y\n1,1\n2,\n3,1\n4,2\n5,2\n6,1\n", ["'y' has 1 missing value", "remove those rows"]),
    "column entirely empty": (b"a,b,y\n1,,1\n2,,2\n3,,1\n4,,2\n", ["['b']", "entirely empty", "delete"]),
    "two rows": (b"a,y\n1,p\n2,q\n", ["2 rows are too few", "add rows"]),
    "no row of a class to hold out": (b"a,y\n1,p\n2,q\n3,p\n", ["3 rows are too few", "validation", "add rows"]),
    "infinite feature": (b"a,y\n1,1\n2,2\ninf,1\n4,2\n5,1\n6,2\n", ["'a' contains infinite values"]),
}


@pytest.mark.parametrize("case", TRAIN_DATA_CASES)
def test_train_bad_data(work, capsys, case):
    content, fragments = TRAIN_DATA_CASES[case]
    extra = []
    if case == "missing file":
        path = "nope.csv"
    elif content is None:
        path = "pets.csv"
        extra = ["--target", "zz"] if case == "unknown target column" else ["--task", "regression"]
    else:
        path = "bad.csv"
        (work / path).write_bytes(content)
    check(capsys, work, ["train", path, *FAST, *extra], *fragments)
    assert (work / "model.safetensors").read_bytes() == PRECIOUS


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_train_unreadable_file_by_permissions(work, capsys):
    target = work / "pets.csv"
    target.chmod(0)
    try:
        check(capsys, work, ["train", "pets.csv", *FAST], "cannot read 'pets.csv'", "permission")
    finally:
        target.chmod(0o644)


def _deny_reading(monkeypatch, name):
    """Every open() of a file called ``name`` fails as an unreadable file does."""
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if os.path.basename(os.fspath(file)) == name if isinstance(file, (str, os.PathLike)) else False:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)


def test_train_unreadable_file(work, monkeypatch, capsys):
    _deny_reading(monkeypatch, "pets.csv")
    message = check(capsys, work, ["train", "pets.csv", *FAST], "cannot read 'pets.csv'", "Permission denied")
    assert message.endswith("check the file and its permissions")


@pytest.mark.parametrize("command", ["evaluate", "predict", "info"])
def test_unreadable_model_file(work, monkeypatch, capsys, command):
    _deny_reading(monkeypatch, "good.safetensors")
    argv = [command, "good.safetensors"] + ([] if command == "info" else ["pets.csv"])
    check(capsys, work, argv, "cannot read model file 'good.safetensors'", "Permission denied")


def test_predict_unreadable_data_file(work, monkeypatch, capsys):
    _deny_reading(monkeypatch, "pets.csv")
    check(capsys, work, ["predict", "good.safetensors", "pets.csv", "--out", "preds.csv"], "cannot read 'pets.csv'")


# -- train: flags -------------------------------------------------------------------------------------

FLAG_CASES = [
    (["--layers", "64,x"], ["--layers", "'x'", "64,32"]),
    (["--layers", "64,0"], ["--layers", "at least 1"]),
    (["--lr", "-0.1"], ["--lr", "'-0.1'", "above 0"]),
    (["--lr", "0"], ["--lr", "above 0"]),
    (["--lr", "fast"], ["--lr", "'fast'", "number"]),
    (["--lr", "nan"], ["--lr", "above 0"]),
    (["--batch-size", "0"], ["--batch-size", "at least 1", "got 0"]),
    (["--batch-size", "3.5"], ["--batch-size", "whole number"]),
    (["--epochs", "0"], ["--epochs", "at least 1"]),
    (["--patience", "-2"], ["--patience", "0 (no early stopping) or more", "-2"]),
    (["--patience", "ten"], ["--patience", "whole number", "'ten'"]),
    (["--val-split", "-0.1"], ["--val-split", "between 0 (inclusive) and 1", "'-0.1'"]),
    (["--test", "t.csv", "--test-split", "0.3"], ["--test FILE or --test-split 0.3", "not both"]),
    (["--optimizer", "adam", "--weight-decay", "0.1"], ["--weight-decay", "adamw", "not of adam", "--l2"]),
    (["--test", "no_such.csv"], ["--test", "no_such.csv", "not found"]),
    (["--optimizer", "adamw", "--weight-decay", "-1"], ["--weight-decay", ">= 0", "'-1'"]),
    (["--optimizer", "adamw", "--weight-decay", "inf"], ["--weight-decay", "finite"]),
    (["--optimizer", "adamw", "--weight-decay", "1000"], ["--weight-decay 1000", "below 1000", "e.g. 0.01"]),
    (["--schedule", "wavy"], ["--schedule", "invalid choice"]),
    (["--val-split", "0", "--monitor", "val_loss"], ["--monitor val_loss", "validation rows", "--val-split is 0"]),
    (["--val-split", "1.5"], ["--val-split", "between 0 (inclusive) and 1", "'1.5'"]),
    (["--test-split", "-0.1"], ["--test-split", "between 0 (inclusive) and 1", "'-0.1'"]),
    (["--test-split", "1"], ["--test-split", "between 0 (inclusive) and 1"]),
    (["--test-split", "a fifth"], ["--test-split", "fraction"]),
    (["--val-split", "0.5", "--test-split", "0.5"], ["--val-split + --test-split", "below 1"]),
    (["--dropout", "1"], ["--dropout", "[0, 1)"]),
    (["--dropout", "half"], ["--dropout", "'half'", "number"]),
    (["--l2", "-1"], ["--l2", ">= 0"]),
    (["--l2", "x"], ["--l2", "number"]),
    (["--seed", "1.5"], ["--seed", "whole number"]),
    (["--seed", "-1"], ["--seed", "0 or more", "-1"]),  # numpy's own message did not name the flag
    (["--l2", "inf"], ["--l2", "finite", "'inf'"]),
    (["--l2", "nan"], ["--l2", "finite", "'nan'"]),
    (["--dropout", "nan"], ["--dropout", "[0, 1)"]),
    # Bug 6: every output path is checked before training, so the existing model.safetensors survives.
    (["--report", "pets.csv/r.html"], ["--report", "'pets.csv' is a file"]),
    (["--plot", "pets.csv/curves.png"], ["--plot", "'pets.csv' is a file"]),
    (["--out", "pets.csv/m.safetensors"], ["--out", "'pets.csv' is a file"]),
    (["--checkpoint", "pets.csv/run"], ["--checkpoint", "'pets.csv' is a file"]),
    (["--report", "nowhere/r.html"], ["--report", "folder 'nowhere' does not exist"]),
    (["--plot", "nowhere/c.png"], ["--plot", "folder 'nowhere' does not exist"]),
    (["--activation", "swish"], ["--activation", "'swish'", "relu"]),
    (["--task", "clustering"], ["--task", "'clustering'", "regression"]),
    (["--optimizer", "lbfgs"], ["--optimizer", "'lbfgs'", "adam"]),
    (["--out", "model.pkl"], ["--out", ".safetensors"]),
    (["--out", "no_such_folder/m.safetensors"], ["folder 'no_such_folder' does not exist", "create it"]),
    (["--plot", "curves.jpg"], ["--plot", ".png"]),
    (["--bogus"], ["unrecognized arguments: --bogus", "--help"]),
    (["--epochs"], ["--epochs", "expected one argument", "--help"]),
]


@pytest.mark.parametrize("flags, fragments", FLAG_CASES, ids=[" ".join(f) for f, _ in FLAG_CASES])
def test_train_malformed_flags(work, capsys, flags, fragments):
    check(capsys, work, ["train", "pets.csv", "--quiet", *flags], *fragments)


def test_train_output_folder_given_as_a_file_name(work, capsys):
    (work / "report.html").mkdir()
    check(capsys, work, ["train", "pets.csv", "--quiet", "--report", "report.html"], "--report", "is a folder")


def test_train_refuses_a_huge_network_at_once(work, capsys):
    started = time.perf_counter()
    message = check(capsys, work, ["train", "--quiet", "--layers", "100000000"], "training needs about", "GB of")
    assert time.perf_counter() - started < 1.0  # before allocating, not after 41 s of swapping
    assert "use smaller --layers (this network has 7,500,000,010 parameters)" in message


def test_memory_error_anywhere_is_one_line(work, capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (1000000000,)")

    before = snapshot(work)
    monkeypatch.setattr(bprop.nn.network, "mlp", exhausted)
    code, out, err = run(capsys, "train", "pets.csv", "--quiet")
    assert_one_error(code, out, err, "out of memory", "8.00 GiB", "smaller --layers", alone=False)
    monkeypatch.setattr(bprop.tables.data, "read_csv", exhausted)
    check(capsys, work, ["predict", "good.safetensors", "pets.csv", "--out", "preds.csv"], "out of memory")
    assert snapshot(work) == before


# The process's address space capped at what it has mapped plus 1.5 GB, like `ulimit -v`.
_CAPPED = """
import resource, sys
import numpy, pandas
from bprop import memory
from bprop.cli import main
mapped = memory._key_values(memory.Path("/proc/self/status"))["VmSize"] * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + 1_500_000_000,) * 2)
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "flags",
    [["--layers", "8000,8000"], ["--keep-high-cardinality", "--layers", "8"]],
    ids=["huge layers", "ID column one-hot encoded"],
)
def test_train_beyond_an_address_space_limit_is_one_line(work, flags):
    # Issue 12's `ulimit -v` case: more than 1.5 GB, by the layers (whether or not the ID column is left
    # out) or by 14,000 one-hot inputs of the ID column, yet well within the machine's memory.
    rows = "\n".join(f"id{i:06d},{i % 7 / 7:.3f},{i % 3}" for i in range(20_000))
    (work / "ids.csv").write_text("id,x,kind\n" + rows + "\n")
    before = snapshot(work)
    argv = ["ids.csv", "--quiet", "--epochs", "1", *flags]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED, "train", *argv], cwd=work, capture_output=True, text=True, env=env, timeout=120
    )
    message = assert_one_error(done.returncode, done.stdout, done.stderr, "memory", alone=False)
    assert "GB" in message or "GiB" in message
    assert snapshot(work) == before


def _with_reader_gone(work, *argv: str) -> subprocess.CompletedProcess:
    """``bprop ARGV | true``: the reading end of stdout is closed before the command writes a byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {**os.environ, "MPLBACKEND": "Agg"}
        return subprocess.run(
            [sys.executable, "-m", "bprop.cli", *argv],
            cwd=work,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "good.safetensors"],
        ["predict", "good.safetensors", "pets.csv"],
        ["evaluate", "good.safetensors", "pets.csv"],
    ],
    ids=["info", "predict", "evaluate"],
)
def test_reader_of_stdout_gone_stops_quietly(work, argv):
    done = _with_reader_gone(work, *argv)
    assert done.returncode == 0, done.stderr
    # No "error: [Errno 32] Broken pipe", no "Exception ignored ... BrokenPipeError" from the interpreter:
    # only the notices the data itself calls for (imputed cells).
    assert all(line.startswith("notice: ") for line in done.stderr.splitlines()), done.stderr


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["frobnicate"], ["invalid choice: 'frobnicate'", "train", "--help"]),
        ([], ["required: COMMAND", "--help"]),
        (["evaluate", "good.safetensors"], ["required: data", "bprop evaluate --help"]),
        (["predict", "--nope", "good.safetensors", "pets.csv"], ["unrecognized arguments: --nope"]),
        (["info"], ["required: model"]),
    ],
)
def test_usage_errors_are_one_line(work, capsys, argv, fragments):
    check(capsys, work, argv, *fragments)


def test_help_and_version_exit_cleanly(capsys):
    with pytest.raises(SystemExit) as done:
        run(capsys, "--version")
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"bprop {bprop.__version__}"
    with pytest.raises(SystemExit) as done:
        run(capsys, "train", "--help")
    assert done.value.code == 0
    assert "--val-split" in capsys.readouterr().out


# -- model files --------------------------------------------------------------------------------------


def _newer_format(source, target):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(source), "np") as f:
        document = json.loads(f.metadata()["bprop"])
    document["format_version"] = bprop.modelfile.FORMAT_VERSION + 1
    save_file(load_file(str(source)), str(target), metadata={"bprop": json.dumps(document)})


def _flip(data: bytes, at: int) -> bytes:
    data = bytearray(data)
    for i in range(at, at + 4):
        data[i] ^= 0xFF
    return bytes(data)


def _make_model_file(case, good, target):
    data = good.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    if case == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif case == "truncated to a few bytes":
        target.write_bytes(data[:5])
    elif case == "corrupted weights":
        target.write_bytes(_flip(data, len(data) - 16))
    elif case == "corrupted header":
        target.write_bytes(_flip(data, header // 2))
    elif case == "newer format version":
        _newer_format(good, target)
    elif case == "a CSV given as model":
        target.write_bytes(b"x1,x2\n1,2\n")
    elif case == "no bprop metadata":
        from safetensors.numpy import load_file, save_file

        save_file(load_file(str(good)), str(target))


MODEL_CASES = {
    "missing": ["'gone.safetensors' not found", "check the path"],
    "truncated": ["truncated", "train the model again"],
    "truncated to a few bytes": ["truncated or not a model file"],
    "corrupted weights": ["corrupted", "checksum", "train the model again"],
    "corrupted header": ["not a bprop model file"],
    "newer format version": [f"format version {bprop.modelfile.FORMAT_VERSION + 1}", "newer", "upgrade bprop"],
    "a CSV given as model": ["not a bprop model file"],
    "no bprop metadata": ["without bprop metadata", "bprop train"],
}


@pytest.mark.parametrize("command", ["evaluate", "predict", "info", "gradcheck"])
@pytest.mark.parametrize("case", MODEL_CASES)
def test_bad_model_files(work, capsys, case, command):
    name = "gone.safetensors" if case == "missing" else "bad.safetensors"
    _make_model_file(case, work / "good.safetensors", work / name)
    argv = {
        "evaluate": ["evaluate", name, "pets.csv", "--json"],
        "predict": ["predict", name, "pets.csv", "--out", "preds.csv"],
        "info": ["info", name],
        "gradcheck": ["gradcheck", name, "pets.csv"],
    }[command]
    check(capsys, work, argv, *MODEL_CASES[case])
    assert (work / "preds.csv").read_bytes() == PRECIOUS


def test_model_without_preprocessing(work, capsys):
    bprop.save(bprop.mlp([5, 2], seed=0), work / "bare.safetensors")
    check(capsys, work, ["predict", "bare.safetensors", "pets.csv"], "no stored preprocessing", "bprop train")
    code, out, err = run(capsys, "info", "bare.safetensors")  # info still describes it
    assert code == 0
    assert "Dense(5, 2" in out


# -- predict / evaluate: data that does not fit the model ----------------------------------------------


def test_predict_missing_feature_column_is_named(work, capsys):
    (work / "rows.csv").write_text("x1,colour\n0.5,red\n")
    message = check(capsys, work, ["predict", "good.safetensors", "rows.csv", "--out", "preds.csv"], "['x2']")
    assert "missing feature column" in message
    assert "trained on columns ['x1', 'x2', 'colour']" in message
    assert (work / "preds.csv").read_bytes() == PRECIOUS


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("x1,x2,colour\n0.1,0.2,red\n", ["no target column 'kind'", "labelled rows"]),
        ("x1,x2,colour,kind\n0.1,0.2,red,cat\n0.3,0.1,blue,fox\n", ["'fox'", "not trained on", "['cat', 'dog']"]),
        ("x1,x2,colour,kind\n0.1,0.2,red,cat\n0.3,0.1,blue,\n", ["'kind' has 1 missing value"]),
        ("x1,x2,colour,kind\n0.1,oops,red,cat\n", ["'x2' was numeric", "'oops'"]),
    ],
    ids=["no target", "unseen label", "missing label", "text in a numeric column"],
)
def test_evaluate_data_that_does_not_fit(work, capsys, text, fragments):
    (work / "rows.csv").write_text(text)
    check(capsys, work, ["evaluate", "good.safetensors", "rows.csv"], *fragments)


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["predict", "good.safetensors", "nope.csv"], ["'nope.csv' not found"]),
        (["predict", "good.safetensors", "pets.csv", "--out", "preds.txt"], ["--out", ".csv"]),
        (["predict", "good.safetensors", "pets.csv", "--out", "nowhere/p.csv"], ["folder 'nowhere' does not exist"]),
        (["evaluate", "good.safetensors", "."], ["is a folder"]),
        (["gradcheck", "good.safetensors", "pets.csv", "--rows", "0"], ["--rows", "at least 1"]),
    ],
)
def test_predict_evaluate_paths_and_flags(work, capsys, argv, fragments):
    check(capsys, work, argv, *fragments)


def test_errors_from_a_real_process(work):
    """The console script itself: status 2, one stderr line, nothing written (no traceback even outside pytest)."""
    before = snapshot(work)
    for argv, fragment in (
        (["train", "pets.csv", "--layers", "64,x"], "--layers"),
        (["train", "pets.csv", "--bogus"], "unrecognized arguments"),
        (["predict", "good.safetensors", "missing.csv"], "not found"),
    ):
        done = run_process(*argv, cwd=work)
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith("error: ")
        assert fragment in done.stderr
    assert snapshot(work) == before


# -- outputs that cannot be written, damaged preprocessing metadata ----------------------------------
def test_unwritable_output_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--quiet", "--epochs", "1", "--out", "/proc/model.safetensors")
    assert code == 2
    # Refused before training: root may "access" /proc, but no file can be made there.
    assert err.startswith("error: --out '/proc/model.safetensors': folder '/proc' is not writable")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    code, _, err = run(capsys, "train", "--quiet", "--epochs", "1", "--checkpoint", "/proc/ck")
    assert code == 2
    assert err.startswith("error: --checkpoint '/proc/ck': folder '/proc' is not writable")
    assert not (tmp_path / "model.safetensors").exists()


def test_damaged_preprocessing_metadata_is_one_error_line(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", "--quiet", "--epochs", "1", "--layers", "4", "--out", model)
    assert code == 0, err
    loaded = bprop.modelfile.load(model)
    loaded.preprocessing["features"]["columns"] = 5
    bprop.modelfile.save(loaded, model)
    for command in ("info", "predict"):
        argv = [command, model] + ([tmp_path / "x.csv"] if command == "predict" else [])
        (tmp_path / "x.csv").write_text("a\n1\n")
        code, _, err = run(capsys, *argv)
        assert code == 2, (command, err)
        assert err.count("\n") == 1, (command, err)
        assert err.startswith("error: "), (command, err)
