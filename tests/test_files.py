"""Atomic writes (bprop.files): through symbolic links, and the temporaries of writers that died."""

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from bprop.files import atomic_write_bytes, file_digest


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)

    assert atomic_write_bytes(link, b"new") == link
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert temporaries(tmp_path) == []
    assert temporaries(tmp_path / "real") == []


def test_a_dangling_symlink_gets_its_target_created(tmp_path):
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "missing.bin")
    atomic_write_bytes(link, b"data")
    assert link.is_symlink()
    assert (tmp_path / "missing.bin").read_bytes() == b"data"


def test_temporary_of_a_dead_writer_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".model.bin.{dead_pid()}.abcd1234.tmp"
    stale.write_bytes(b"half a model")
    not_ours = tmp_path / ".notes.txt.tmp"  # not our naming: never touched
    not_ours.write_bytes(b"x")

    atomic_write_bytes(tmp_path / "other.bin", b"data")
    assert not stale.exists()
    assert not_ours.exists()


def test_temporary_of_a_live_writer_survives(tmp_path):
    # A live process with the temporary's pid (unlocked file): its writer may still be at it.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            alive = tmp_path / f".model.bin.{live.pid}.abcd1234.tmp"
            alive.write_bytes(b"being written")
            atomic_write_bytes(tmp_path / "other.bin", b"data")
            assert alive.exists()
        finally:
            live.kill()


def test_temporary_whose_lock_is_held_survives_even_if_its_pid_is_gone(tmp_path):
    # The pid is gone but a process (here: this one) still holds the writer's lock, e.g. a forked child.
    locked = tmp_path / f".model.bin.{dead_pid()}.abcd1234.tmp"
    locked.write_bytes(b"being written")
    fd = os.open(locked, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        atomic_write_bytes(tmp_path / "other.bin", b"data")
        assert locked.exists()
    finally:
        os.close(fd)
    atomic_write_bytes(tmp_path / "other.bin", b"data")  # lock released: now provably abandoned
    assert not locked.exists()


WRITER = """
import sys, time
from pathlib import Path
from bprop.files import atomic_write_with

def write(tmp):
    tmp.write_bytes(b"half")
    Path(sys.argv[2]).touch()  # tell the test the temporary exists
    time.sleep(60)

atomic_write_with(sys.argv[1], write)
"""


def test_a_writer_killed_mid_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    started = tmp_path / "started"
    folder = tmp_path / "out"
    folder.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder / "model.bin"), str(started)])
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline and writer.poll() is None:
        time.sleep(0.01)
    assert started.exists(), "the writer did not start"
    assert len(temporaries(folder)) == 1
    # A concurrent write while the writer lives must not touch its temporary.
    atomic_write_bytes(folder / "other.bin", b"data")
    assert len(temporaries(folder)) == 1

    writer.send_signal(signal.SIGKILL)
    writer.wait()
    atomic_write_bytes(folder / "other.bin", b"data")
    assert temporaries(folder) == []
    assert not (folder / "model.bin").exists()


def test_file_digest_is_size_and_sha256(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    assert file_digest(tmp_path / "f") == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("name", ["model.bin", "a.b.c"])
def test_temporary_names_carry_the_writers_pid(tmp_path, name):
    seen = []
    from bprop.files import atomic_write_with

    atomic_write_with(tmp_path / name, lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"x")))
    assert seen[0].startswith(f".{name}.{os.getpid()}.")
    assert seen[0].endswith(".tmp")


def test_a_temporary_with_an_impossible_pid_is_left_alone(tmp_path):
    odd = tmp_path / f".model.bin.{2**80}.abcd1234.tmp"
    odd.write_bytes(b"x")
    atomic_write_bytes(tmp_path / "other.bin", b"data")
    assert odd.exists()
