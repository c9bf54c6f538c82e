"""Safe output files, used by every writer of the project.

Only a regular file or a new path is written; a device, FIFO, socket, directory or read-only
file is refused with a one-line error before any work. Writes are atomic (hidden temporary file
in the same directory, then os.replace): a reader never sees half a file, an interrupted run
leaves the old file and no debris, and an existing file keeps its mode and owner. As root,
os.access(W_OK) is True even for mode 444, so "read-only" also looks at the mode's write bits.
"""
import os
import secrets
import signal
import stat
import threading
from contextlib import contextmanager, suppress

_KINDS = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


class OutputError(ValueError):
    """A path the project refuses to write; the message is one line naming the path and why."""


class _Terminated(BaseException):
    """Raised by the temporary SIGTERM handler so that the cleanup code runs."""


def _fail(what, path, why):
    return OutputError(f"{what} {path}: {why}")


def _kind(mode):
    """'a FIFO', 'a directory', ...: what kind of file a mode describes."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _writable(path, access=os.W_OK):
    """os.access, plus at least one write bit in the mode (root passes os.access anyway)."""
    return bool(os.stat(path).st_mode & 0o222) and os.access(path, access)


def _lstat(path):
    """os.lstat, or None when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def check_output_file(path, *, inputs=(), what="output"):
    """Validate a file path to be written later; return its absolute path.

    Refused (OutputError): an empty path or one ending in a separator; a dangling link; an
    existing non-regular file (directory, device, FIFO, socket), one of `inputs`, or a read-only
    file; a parent that is missing, not a directory or not writable. A link to a regular file
    is fine: the file it names is returned, so that the link survives the atomic replacement.
    """
    if path is None or not str(path).strip():
        raise _fail(what, path, "no file name given")
    if str(path).endswith(("/", os.sep)):
        raise _fail(what, path, "names a directory (ends with a separator), not a file")
    full = os.path.abspath(path)
    if os.path.islink(full):
        if not os.path.exists(full):
            raise _fail(what, path, "is a dangling symbolic link")
        full = os.path.realpath(full)
    if os.path.exists(full):
        mode = os.stat(full).st_mode
        if not stat.S_ISREG(mode):
            raise _fail(what, path, f"is {_kind(mode)}, not a regular file")
        for source in inputs:
            if os.path.exists(source) and os.path.samefile(source, full):
                raise _fail(what, path, f"is the same file as the input {source}")
        if not _writable(full):
            raise _fail(what, path, "is read-only")
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        why = "is not a directory" if os.path.lexists(parent) else "does not exist"
        raise _fail(what, path, f"directory {parent} {why}")
    if not _writable(parent, os.W_OK | os.X_OK):
        raise _fail(what, path, f"directory {parent} is not writable")
    return full


@contextmanager
def _sigterm_raises():
    """While active, the first SIGTERM raises _Terminated, then the previous handler returns.
    Main thread only (signal.signal works nowhere else); an ignored SIGTERM, or one handled
    outside Python (getsignal() is None), is left alone."""
    fired = []

    def handler(signum, frame):
        if not fired:  # a second SIGTERM must not cut the cleanup short
            fired.append(signum)
            raise _Terminated

    install = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, None))
    previous = signal.signal(signal.SIGTERM, handler) if install else None
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, previous)


def _keep_owner_and_mode(fd, target):
    """Copy the existing target's owner and mode onto the temporary file (chown first: it
    clears setuid bits; only when the owner differs and we are allowed, i.e. as root)."""
    old, new = _lstat(target), os.fstat(fd)
    if old is None or not stat.S_ISREG(old.st_mode):
        return  # a new file; anything else is refused by the re-check that follows
    if (old.st_uid, old.st_gid) != (new.st_uid, new.st_gid):
        with suppress(PermissionError):
            os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def write_atomic(path, write, *, binary=False, inputs=(), what="output"):
    """Write a file through `write(f)` so that it is either fully replaced or not at all.

    check_output_file, then `write` gets a hidden temporary file in the same directory (text:
    utf-8, newline=""; or binary); then fsync, the old target's owner and mode, a re-check
    that the target is still absent or a regular file, os.replace. On any exception or SIGTERM
    the temporary file is removed and nothing else changes; after SIGTERM the process exits
    with code 143. An OSError becomes OutputError("<what> <path>: cannot write (<reason>)").
    """
    target = check_output_file(path, inputs=inputs, what=what)
    directory, name = os.path.split(target)
    # new file: 0o666 & ~umask (as open() gives); else private until the old mode is copied
    create_mode = 0o600 if os.path.exists(target) else 0o666
    tmp = None
    try:
        with _sigterm_raises():
            try:
                tmp = os.path.join(directory, f".{name[:200]}.{secrets.token_hex(6)}.tmp")
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, create_mode)
                except OSError:
                    tmp = None  # nothing was created: never remove someone else's file
                    raise
                text = {} if binary else {"encoding": "utf-8", "newline": ""}
                with os.fdopen(fd, "wb" if binary else "w", **text) as f:
                    write(f)
                    f.flush()
                    _keep_owner_and_mode(f.fileno(), target)
                    os.fsync(f.fileno())
                now = _lstat(target)  # the target may have changed while we wrote
                if now is not None and not stat.S_ISREG(now.st_mode):
                    raise _fail(what, path, f"became {_kind(now.st_mode)} while writing")
                os.replace(tmp, target)
                tmp = None
            finally:
                if tmp is not None:
                    with suppress(OSError):
                        os.unlink(tmp)
    except _Terminated:
        if tmp is not None:  # the signal may have cut the first attempt short
            with suppress(OSError):
                os.unlink(tmp)
        raise SystemExit(143) from None
    except OSError as err:
        raise _fail(what, path, f"cannot write ({err.strerror or err})") from err


def check_output_dir(path, *, what="output directory", create=True):
    """For tools that write a whole directory (static HTML pages, figures, reports).

    Refused (OutputError): an empty path, an existing non-directory or dangling link, a
    read-only directory, a missing one whose nearest existing ancestor is not a writable
    directory. create=True makes it (and its parents) when absent. Returns the absolute path.
    """
    if path is None or not str(path).strip():
        raise _fail(what, path, "no directory name given")
    full = os.path.abspath(path)
    if os.path.lexists(full) and not os.path.isdir(full):
        kind = _kind(os.stat(full).st_mode) if os.path.exists(full) else "a dangling symbolic link"
        raise _fail(what, path, f"is {kind}, not a directory")
    if os.path.isdir(full):
        if not _writable(full, os.W_OK | os.X_OK):
            raise _fail(what, path, "is read-only")
        return full
    ancestor = os.path.dirname(full)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not (os.path.isdir(ancestor) and _writable(ancestor, os.W_OK | os.X_OK)):
        raise _fail(what, path, f"cannot be created: {ancestor} is not a writable directory")
    if create:
        try:
            os.makedirs(full, exist_ok=True)
        except OSError as err:
            raise _fail(what, path, f"cannot be created ({err.strerror or err})") from err
    return full
