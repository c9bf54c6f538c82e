"""mpe_teach.safeio: refusals (one line, naming the path), atomic writes, cleanup on errors and
SIGTERM, mode and owner kept. /dev/null is only ever looked at, never written."""
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mpe_teach.safeio import OutputError, check_output_dir, check_output_file, write_atomic

ROOT = Path(__file__).resolve().parents[1]


def refused(call, path, what="output"):
    """Run call(), expect OutputError; its message is one line starting with '<what> <path>:'."""
    with pytest.raises(OutputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{what} {path}:"), message
    return message


def write_text(text):
    return lambda f: f.write(text)


def leftovers(directory):
    """Hidden temporary files left in a directory."""
    return [p.name for p in Path(directory).iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------- refusals
def test_refuses_a_directory(tmp_path):
    message = refused(lambda: write_atomic(tmp_path, write_text("x")), tmp_path)
    assert "directory" in message
    assert os.listdir(tmp_path) == []


def test_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    called = []
    assert "FIFO" in refused(lambda: check_output_file(fifo), fifo)
    refused(lambda: write_atomic(fifo, called.append), fifo)  # would block if it opened it
    assert not called and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_refuses_a_socket(tmp_path):
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert "socket" in refused(lambda: write_atomic(path, write_text("x")), path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_refuses_dev_null_without_touching_it():
    before = os.stat("/dev/null")
    if not stat.S_ISCHR(before.st_mode):
        pytest.skip("/dev/null is not a character device here")
    assert "character device" in refused(lambda: check_output_file("/dev/null"), "/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)


def test_refuses_a_read_only_file_and_leaves_it_alone(tmp_path):
    path = tmp_path / "frozen.txt"
    path.write_text("old\n")
    path.chmod(0o444)  # root could still write it: os.access alone would not notice
    assert "read-only" in refused(lambda: write_atomic(path, write_text("new\n")), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_refuses_a_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        target = folder / "out.txt"
        assert "not writable" in refused(lambda: write_atomic(target, write_text("x")), target)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_refuses_a_missing_parent_and_creates_nothing(tmp_path):
    target = tmp_path / "missing" / "out.txt"
    assert "does not exist" in refused(lambda: write_atomic(target, write_text("x")), target)
    assert not (tmp_path / "missing").exists()


def test_refuses_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "plain").write_text("")
    target = tmp_path / "plain" / "out.txt"
    assert "not a directory" in refused(lambda: check_output_file(target), target)


@pytest.mark.parametrize("path", ["", "   ", None])
def test_refuses_an_empty_path(path):
    refused(lambda: check_output_file(path), path)
    refused(lambda: write_atomic(path, write_text("x")), path)


def test_refuses_a_path_ending_in_a_separator(tmp_path):
    path = f"{tmp_path}/new/"
    refused(lambda: write_atomic(path, write_text("x")), path)
    assert os.listdir(tmp_path) == []


def test_refuses_the_input_itself(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("input\n")
    link = tmp_path / "alias.txt"
    link.symlink_to(data)
    for target in (data, link, tmp_path / "." / "data.txt"):
        message = refused(lambda: write_atomic(target, write_text("x"), inputs=[data]), target)
        assert "same file as the input" in message
    assert data.read_text() == "input\n"


def test_refuses_a_dangling_symlink(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "nowhere.txt")
    assert "dangling" in refused(lambda: write_atomic(link, write_text("x")), link)
    assert not (tmp_path / "nowhere.txt").exists() and link.is_symlink()


def test_what_names_the_output(tmp_path):
    refused(lambda: check_output_file(tmp_path, what="figure"), tmp_path, what="figure")


# ----------------------------------------------------------------------------- writing
def test_writes_a_new_file(tmp_path):
    target = tmp_path / "out.txt"
    assert check_output_file(target) == str(target)
    write_atomic(target, write_text("é\r\nline\n"))
    assert target.read_bytes() == "é\r\nline\n".encode()  # utf-8, newlines untouched
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert leftovers(tmp_path) == []


def test_writes_binary(tmp_path):
    target = tmp_path / "out.bin"
    write_atomic(target, lambda f: f.write(b"\x00\xff"), binary=True)
    assert target.read_bytes() == b"\x00\xff"


def test_overwriting_keeps_the_mode(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomic(target, write_text("new\n"))
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_overwriting_keeps_the_owner(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    os.chown(target, 12345, 23456)
    write_atomic(target, write_text("new\n"))
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (12345, 23456) and target.read_text() == "new\n"


def test_writes_through_a_symlink_and_keeps_it(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_atomic(link, write_text("new\n"))
    assert link.is_symlink() and real.read_text() == "new\n"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("existing", [True, False])
def test_an_error_inside_write_changes_nothing(tmp_path, error, existing):
    target = tmp_path / "out.txt"
    if existing:
        target.write_text("old\n")

    def failing(f):
        f.write("half a fi")
        raise error

    with pytest.raises(type(error)):
        write_atomic(target, failing)
    assert os.listdir(tmp_path) == (["out.txt"] if existing else [])
    if existing:
        assert target.read_text() == "old\n"


def test_an_oserror_becomes_an_output_error(tmp_path):
    target = tmp_path / "out.txt"

    def failing(f):
        raise OSError(28, "No space left on device")

    message = refused(lambda: write_atomic(target, failing), target)
    assert "cannot write (No space left on device)" in message
    assert os.listdir(tmp_path) == []


def test_a_target_replaced_by_a_fifo_during_the_write_is_left_alone(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n")

    def racing(f):
        f.write("new\n")
        target.unlink()
        os.mkfifo(target)

    assert "FIFO" in refused(lambda: write_atomic(target, racing), target)
    assert stat.S_ISFIFO(os.lstat(target).st_mode) and os.listdir(tmp_path) == ["out.txt"]


def test_the_sigterm_handler_is_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    write_atomic(tmp_path / "out.txt", write_text("x"))
    assert signal.getsignal(signal.SIGTERM) is before


def test_works_outside_the_main_thread(tmp_path):
    errors = []

    def run():
        try:
            write_atomic(tmp_path / "out.txt", write_text("from a thread\n"))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors and (tmp_path / "out.txt").read_text() == "from a thread\n"


SLOW_WRITER = textwrap.dedent("""
    import os, signal, sys, time
    from mpe_teach.safeio import write_atomic

    def slow(f):
        f.write("first line\\n")
        f.flush()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the signal interrupts this
        f.write("second line\\n")

    write_atomic(sys.argv[1], slow)
    print("not reached")
""")


@pytest.mark.parametrize("existing", [True, False])
def test_sigterm_during_the_write_cleans_up_and_exits_143(tmp_path, existing):
    target = tmp_path / "out.txt"
    if existing:
        target.write_text("old\n")
    result = subprocess.run([sys.executable, "-c", SLOW_WRITER, str(target)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 143, result.stderr
    assert "not reached" not in result.stdout
    assert os.listdir(tmp_path) == (["out.txt"] if existing else [])
    if existing:
        assert target.read_text() == "old\n"


# ----------------------------------------------------------------------------- directories
def test_check_output_dir_creates_nested_directories(tmp_path):
    folder = tmp_path / "a" / "b" / "c"
    assert check_output_dir(folder) == str(folder) and folder.is_dir()
    assert check_output_dir(folder) == str(folder)  # an existing one is fine


def test_check_output_dir_without_create_creates_nothing(tmp_path):
    folder = tmp_path / "a" / "b"
    assert check_output_dir(folder, create=False) == str(folder)
    assert not (tmp_path / "a").exists()


def test_check_output_dir_refuses_a_file(tmp_path):
    path = tmp_path / "report"
    path.write_text("not a folder\n")
    message = refused(lambda: check_output_dir(path), path, what="output directory")
    assert "not a directory" in message and path.read_text() == "not a folder\n"


def test_check_output_dir_refuses_a_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        refused(lambda: check_output_dir(folder), folder, what="output directory")
        refused(lambda: check_output_dir(folder / "sub"), folder / "sub", what="output directory")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_check_output_dir_refuses_a_parent_that_cannot_be_created(tmp_path):
    (tmp_path / "plain").write_text("")
    folder = tmp_path / "plain" / "sub" / "html"
    refused(lambda: check_output_dir(folder), folder, what="output directory")


@pytest.mark.parametrize("path", ["", "  "])
def test_check_output_dir_refuses_an_empty_path(path):
    refused(lambda: check_output_dir(path, what="pages"), path, what="pages")


def test_check_output_dir_refuses_dev_null_without_touching_it():
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("/dev/null is not a character device here")
    refused(lambda: check_output_dir("/dev/null", create=False), "/dev/null",
            what="output directory")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
