"""The CSV log on disk: one row per frame (``Result.row`` under the ``csv_columns`` header).

Writing (``CsvLog``, the critical sink): each batch of rows goes out in one ``write`` on an
``O_APPEND`` descriptor, unbuffered, so ``tail -f`` shows it at once and a killed process leaves no
half row (the kernel finishes a started write). A write that fails part way (a full disk) is cut back
to the rows before it, so a row is on disk whole or not at all; should a line still be torn (a power
cut; ``fsync`` narrows that window), the next start removes it and logs that once, naming its source and
frame: a file's frame is classified again, a stream's row is lost. Before each write the path is checked: a
log moved away or deleted (rotation) is reopened, a truncated one (``copytruncate``) gets its header again;
SIGHUP can also ask for a reopen. Any failure raises ``LogError``, which stops the daemon.

The ``source`` field is escaped (``escape_source``: backslash, line feed and carriage return as
``\\\\``, ``\\n``, ``\\r``), so that a file name with a line break cannot break line-based readers; bytes of a file
name that are not UTF-8 are written as ``\\xNN``, in the source and in the message, so that the log stays UTF-8.
The last row for a source is its answer: a file read again after an ``error`` row gets new rows.

Reading: ``resume_point`` (which files a restart must not classify again) and ``LogFollower``
(``tail``: the rows appended since the last look, across rotation).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import logging
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from glob import escape as glob_escape
from pathlib import Path

from ..causes import Unavailable
from ..classify.size import SIZE_COLUMNS
from ..results import Result, csv_columns, parse_time, probability_columns
from ..simulator.shapes import CLASS_NAMES
from . import Update
from .text import one_line

log = logging.getLogger(__name__)
#: columns added after the first release: a log written without them is continued in its own layout
LATER_COLUMNS: tuple[str, ...] = ("answer", *SIZE_COLUMNS)

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r",
            **{chr(c): f"\\x{c:02x}" for c in [*range(0x20), 0x7F] if chr(c) not in "\n\r\t"}}
#: a character ``escape_source`` escapes (one of ``_ESCAPES``)
_TO_ESCAPE = re.compile(f"[{re.escape(''.join(_ESCAPES))}]")
#: the characters of the named escapes (``\\``, ``\n``, ``\r``) by their letter, for ``_unescaped``
_NAMED = {escape[1:]: char for char, escape in _ESCAPES.items() if not escape.startswith("\\x")}
#: where ``Result.row`` puts the source and the message; the frame, in every layout of the log (its third column)
SOURCE_FIELD, MESSAGE_FIELD = csv_columns(CLASS_NAMES).index("source"), -1
FRAME_FIELD = csv_columns(CLASS_NAMES).index("frame")


def escape_source(source: str) -> str:
    """``source`` as the CSV log writes it: backslash, line feed and carriage return escaped, the other ASCII controls
    but the tab as ``\\xNN`` (an escape sequence in a file name would act on a terminal showing ``tail -f`` of the
    log), and the bytes of a file name that are not UTF-8 as ``\\xNN`` too (``escape_bytes``; those are 80-ff)."""
    if source.isascii() and not _TO_ESCAPE.search(source):
        return source
    return escape_bytes("".join(_ESCAPES.get(c, c) for c in source))


def unescape_source(written: str) -> str:
    """The source that ``escape_source`` wrote as ``written`` (a file name's undecodable bytes as lone surrogates)."""
    if "\\" not in written:
        return written
    return _ESCAPED.sub(_unescaped, written)


_ESCAPED = re.compile(r"\\(\\|n|r|x[0-9a-f]{2})")


def _unescaped(match: re.Match) -> str:
    code = match[1]
    if code[0] != "x":
        return _NAMED[code]
    byte = int(code[1:], 16)
    return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)  # an ASCII control, else a byte that is not UTF-8


def escape_bytes(text: str) -> str:
    """``text`` with the bytes of a file name that are not UTF-8 (which Python holds as lone surrogates, PEP 383)
    written as ``\\xNN``, so that it can be written as UTF-8; other text unchanged."""
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no undecodable byte gave
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def log_rows(results: Sequence[Result]) -> list[list[str]]:
    """The CSV fields of ``results`` as the log writes them: the source escaped (``escape_source``), the message
    as ``logged_message`` gives it."""
    rows = [r.row() for r in results]
    for row in rows:
        row[SOURCE_FIELD] = escape_source(row[SOURCE_FIELD])
        row[MESSAGE_FIELD] = logged_message(row[MESSAGE_FIELD])
    return rows


def logged_message(text: str) -> str:
    """``text`` as the log's message field holds it: on one line (runs of white space one space), the other ASCII
    controls and the bytes of file names that are not UTF-8 as ``\\xNN`` (``text.one_line``)."""
    return one_line(" ".join(text.split()))


#: causes of a log that cannot be written for now (space, quota, I/O, memory, a network file system):
#: ``LogError.transient``
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EAGAIN, errno.ESTALE,
                              errno.ETIMEDOUT})


def awaited_directory(directory: Path) -> bool:
    """Whether ``directory`` is missing but its parent is there: a share not mounted (yet), or a run's directory not
    made yet, which may appear, unlike a directory whose parent is missing too (a mistyped path). The watched
    directory follows the same rule (``sources.watch``)."""
    return not os.path.lexists(directory) and directory.parent.is_dir()


class LogError(RuntimeError):
    """The CSV log cannot be written; the message names the file and the cause. ``transient``: for a cause that may
    go away (``TRANSIENT_ERRNOS``: a full disk), not one of the configuration (a directory without write access);
    ``awaited``: the log's directory is not there, its parent is (``awaited_directory``)."""

    def __init__(self, message: str, transient: bool = False, awaited: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.awaited = awaited


def format_rows(rows: Sequence[Sequence[str]]) -> str:
    """CSV text, one ``\\n``-terminated line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def encoded_rows(rows: Sequence[Sequence[str]]) -> bytes:
    """``format_rows`` as UTF-8 for a log file; a lone surrogate (a file name's undecodable byte, PEP 383) left in
    a field not escaped before becomes ``\\udcNN`` rather than an error that would stop the daemon."""
    return format_rows(rows).encode("utf-8", "backslashreplace")


class CsvLog:
    """Appends rows to ``path``; critical sink."""

    critical = True

    def __init__(self, path: str | Path, class_names: Sequence[str] = CLASS_NAMES, fsync: bool = False,
                 frames_on_disk: bool = True) -> None:
        """``frames_on_disk``: whether the frames of its rows can be read again (files), unlike a stream's."""
        self.path = Path(path)
        self.class_names = tuple(class_names)
        self.fsync = fsync
        self.frames_on_disk = frames_on_disk
        self._columns = csv_columns(self.class_names)
        self._header = format_rows([self._columns])
        #: positions in our columns of an existing log's older layout (``_adopt_layout``), None for ours
        self._layout: list[int] | None = None
        self._fd: int | None = None
        self._reopen = False
        self._name_lock = _lock_name(self.path)
        try:
            self._guard(self._open)
        except BaseException:
            _release(self._name_lock)
            raise

    def request_reopen(self) -> None:
        """Reopen before the next write (e.g. on SIGHUP after logrotate); safe in a signal handler."""
        self._reopen = True

    def update(self, update: Update) -> None:
        self.write(update.results)

    def write(self, results: Sequence[Result]) -> None:
        """Append one row per result, in one write; raises ``LogError``."""
        if not results:
            return
        for r in results:
            if r.status == "ok" and tuple(r.class_names) != self.class_names:
                raise LogError(f"{self.path}: a result ranks classes {r.class_names}, the log's columns are "
                               f"{self.class_names}")
        rows = log_rows(results)
        if self._layout is not None:
            rows = [[row[i] for i in self._layout] for row in rows]
        data = encoded_rows(rows)
        self._guard(lambda: self._append(data))

    def close(self) -> None:
        _release(self._name_lock)
        self._name_lock = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._guard(lambda: os.close(fd))

    def _guard(self, action) -> None:
        try:
            action()
        except OSError as exc:
            if exc.errno == errno.ENOENT and awaited_directory(self.path.parent):
                raise LogError(f"{self.path}: cannot write the CSV log: its directory {self.path.parent} is not there",
                               awaited=True) from exc
            raise LogError(f"{self.path}: cannot write the CSV log ({exc.strerror or exc})",
                           transient=exc.errno in TRANSIENT_ERRNOS) from exc

    def _open(self) -> None:
        try:  # not blocking: opened to write, a FIFO that no process reads waited for one for good, SIGTERM unheard
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            kind = ("a FIFO that no process reads" if _is_fifo(self.path) else
                    "a socket, which cannot be opened as a file")
            raise LogError(f"{self.path}: cannot write the CSV log: {kind}") from None
        try:
            os.set_blocking(fd, True)
            _lock(fd, self.path)
            size = os.fstat(fd).st_size
            if size == 0:
                _write_all(fd, self._header.encode())
                self._layout = None
            else:
                self._check_existing(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _check_existing(self, fd: int) -> None:
        """Same header as ours, and a complete last line: a torn one (a power cut) is removed. A log that starts with
        a row of ours (truncated in place by ``copytruncate`` between our check and our write, so that its header
        was lost) gets its header back (``_restore_header``, through ``fd``)."""
        size, torn = _torn_tail(self.path)
        if torn and len(torn) == size and _torn_header(torn, self._header):
            os.ftruncate(fd, 0)
            _write_all(fd, self._header.encode())
            log.warning("%s: held no whole line, only %d bytes of a header (torn by a power cut or a full disk as the "
                        "log began): started again with its header", self.path, size)
            return
        with open(self.path, "rb") as fh:
            first = fh.readline().decode(errors="replace")
        if first != self._header:
            if self._is_our_row(first):
                self._restore_header(fd)
            else:
                self._adopt_layout(first)
        if torn:
            os.truncate(self.path, size - len(torn))
            row = _torn_row_names(torn)
            fate = ("its frame is classified again" if self.frames_on_disk else
                    "that row is lost: a stream does not send its frame again")
            log.warning("%s: removed a torn last line (%d bytes without a line end, e.g. after a full disk or a "
                        "power cut)%s; %s", self.path, len(torn), f", the row of {row}" if row else "", fate)

    def _is_our_row(self, line: str) -> bool:
        """Whether ``line`` is a row in this log's columns (not a header): as many fields, a time first."""
        fields = next(csv.reader([line]), [])
        if len(fields) != len(self._columns):
            return False
        try:
            parse_time(fields[0])
        except ValueError:
            return False
        return True

    def _restore_header(self, fd: int) -> None:
        """Put the header before the rows of the log open (appending) on ``fd``, in place: the rows are copied aside
        (a temporary file), the log emptied and written again, so that its inode, links, owner and mode stay."""
        with open(self.path, "rb") as rows, tempfile.TemporaryFile() as aside:
            shutil.copyfileobj(rows, aside, 1 << 20)
            aside.seek(0)
            os.ftruncate(fd, 0)
            _write_all(fd, self._header.encode())
            while chunk := aside.read(1 << 20):
                _write_all(fd, chunk)
        log.warning("%s: began with a row, not its header (truncated in place while a row was written, as "
                    "logrotate's copytruncate can): the header is restored", self.path)

    def _adopt_layout(self, header: str) -> None:
        """Keep writing an existing log of an earlier layout (this model's columns less the size columns and the
        ``answer`` column, as written before they existed) in its own columns, so that a restart after an upgrade
        resumes it; any other header raises ``LogError``."""
        columns = next(csv.reader([header]), [])
        missing = [c for c in self._columns if c not in columns]
        if columns != [c for c in self._columns if c in columns] or not set(missing) <= set(LATER_COLUMNS):
            raise LogError(f"{self.path}: its columns differ from this model's ({header.strip()[:120]!r}); give "
                           f"another --csv")
        if not missing:  # the same columns, written otherwise (CRLF line ends): the log goes on as it is
            return
        self._layout = [self._columns.index(c) for c in columns]
        log.warning("%s: written before the %s column%s existed; its rows go on without them (give a new --csv to "
                    "log them)", self.path, ", ".join(missing), "s" if len(missing) > 1 else "")

    def _append(self, data: bytes) -> None:
        if self._fd is None or self._reopen or not _same_file(self.path, self._fd):
            self._reopen = False
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._open()
        elif _emptied(self._fd):  # truncated in place
            _write_all(self._fd, self._header.encode())
            self._layout = None
        _write_whole(self._fd, data)
        if os.fstat(self._fd).st_size == len(data) and self._layout is None:  # truncated between check and write
            self._restore_header(self._fd)
        if self.fsync:
            os.fsync(self._fd)


def _lock(fd: int, path: Path) -> None:
    """Take the log for this process (``flock``, released when ``fd`` closes); raises ``LogError`` when another
    process writes it, whose rows would interleave with ours and each frame be logged twice. Where the file
    system has no locks, writes unlocked."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LogError(f"{path}: another process is writing this CSV log (a gisaxs-live service already running?); "
                       "stop it or give another --csv") from None
    except OSError as exc:
        log.debug("%s: not locked (%s)", path, exc.strerror or exc)


def _lock_name(path: Path) -> int | None:
    """Take the log's name for this process: ``flock`` on ``.NAME.lock`` beside it, held until ``close``. The lock on
    the log file itself goes with the file: a log rotated away (``mv``, logrotate's ``create``) leaves its name free
    until the next row, and a second process started meanwhile took it, so that the running service stopped. The
    name's lock stays. A name given through symbolic links is locked where they lead; where the directory takes no
    new file, or the log is no regular file or lies under /dev or /proc (``--csv /dev/stdout``), only the file's
    lock is kept (None)."""
    real = Path(os.path.realpath(path))
    if (real.exists() and not real.is_file()) or real.parts[1:2] in (("dev",), ("proc",)):
        return None
    try:
        fd = os.open(real.with_name(f".{real.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.debug("%s: its name is not locked (%s)", path, exc.strerror or exc)
        return None
    try:
        _lock(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def open_log(path: str | Path, class_names: Sequence[str], fsync: bool = False, monitor: bool = False,
             frames_on_disk: bool = True) -> CsvLog:
    """A command's CSV log (``--csv``, ``output.csv``), opened at its start. A failure raises ``Unavailable`` where
    its cause may pass (``LogError.transient``: a full disk; for a ``monitor``, ``watch`` or ``stream``, also a log
    directory not there whose parent is, a share not mounted yet: exit 1, a runtime failure, so that a service
    manager restarts it), else a ValueError (a usage or configuration error: exit 2); either names the file and the
    cause. ``frames_on_disk``: see ``CsvLog``."""
    try:
        return CsvLog(path, class_names, fsync=fsync, frames_on_disk=frames_on_disk)
    except LogError as exc:
        raise (Unavailable if exc.transient or (monitor and exc.awaited) else ValueError)(str(exc)) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class SideLog:
    """An ``O_APPEND`` log beside the CSV log (events, refinements) whose header is ``columns``: a new or empty file
    gets the header, an existing one must start with it or with one of the ``earlier`` releases' column lists, which
    it then keeps (``columns`` is the open file's; ``write_records`` fills them by name). Like the CSV log it follows
    rotation: moved away or deleted, the next write starts a new file; truncated in place, it gets its header again.
    Opening raises a ValueError naming the file, ``what`` it is and the cause (``Unavailable`` for a cause that may
    pass, ``TRANSIENT_ERRNOS``); ``write_rows`` and ``write_records`` an OSError."""

    def __init__(self, path: Path, columns: Sequence[str], what: str, earlier: Sequence[Sequence[str]] = ()) -> None:
        self.path, self.what = Path(path), what
        self._layouts = [list(columns), *(list(c) for c in earlier)]  # the first for a new file
        self.columns = self._layouts[0]
        self._fd: int | None = None
        try:
            self._fd = self._open()
        except OSError as exc:  # a full disk may pass (exit 1: a service is restarted), a bad path not (2)
            unusable = Unavailable if exc.errno in TRANSIENT_ERRNOS else ValueError
            raise unusable(f"{self.path}: cannot write {what} ({exc.strerror or exc})") from None

    def write_rows(self, rows: Sequence[Sequence[str]]) -> None:
        """Append ``rows`` whole (``encoded_rows``), in one write; raises OSError (also for a file at the path that
        is not this log, found after a rotation)."""
        _write_whole(self._ready(), encoded_rows(rows))

    def write_records(self, records: Sequence[dict[str, str]]) -> None:
        """``write_rows`` of ``records`` (column → text) under the open file's columns; others are left out, and a
        column a record lacks is empty."""
        fd = self._ready()
        _write_whole(fd, encoded_rows([[record.get(k, "") for k in self.columns] for record in records]))

    def _ready(self) -> int:
        """The open file, opened again after a rotation (OSError if that fails)."""
        if self._fd is None or not _same_file(self.path, self._fd):
            if self._fd is not None:
                fd, self._fd = self._fd, None  # never kept once closed: the number may be another file's next
                os.close(fd)
            try:
                self._fd = self._open()
            except ValueError as exc:
                raise OSError(str(exc)) from None
        elif os.fstat(self._fd).st_size == 0:  # truncated in place
            self.columns = self._layouts[0]
            _write_whole(self._fd, _header(self.columns))
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if os.fstat(fd).st_size == 0:
                self.columns = self._layouts[0]
                _write_whole(fd, _header(self.columns))
            else:
                self.columns = self._columns_of(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _columns_of(self, fd: int) -> list[str]:
        """The columns of the existing log open at ``fd``: this release's or an earlier one's (ValueError if
        neither)."""
        for columns in self._layouts:
            header = _header(columns)
            if os.pread(fd, len(header), 0) == header:
                if columns is not self._layouts[0]:
                    log.info("%s: %s of an earlier release, continued with its columns (%s); a new file gets %s",
                             self.path, self.what, ", ".join(columns), ", ".join(self._layouts[0]))
                return columns
        raise ValueError(f"{self.path}: its columns are not those of {self.what}; move it away or give another --csv")


def _header(columns: Sequence[str]) -> bytes:
    return format_rows([columns]).encode()


def _write_whole(fd: int, data: bytes) -> None:
    """Append ``data`` to ``fd`` (``O_APPEND``, one writer); if that fails part way, cut the file back to
    its size before, then raise."""
    size = os.fstat(fd).st_size
    try:
        _write_all(fd, data)
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass  # the next start removes the torn line
        raise


def _emptied(fd: int) -> bool:
    """Whether the log open on ``fd`` is a regular file of 0 bytes (truncated in place); a pipe or a terminal
    (``--csv /dev/stdout``) always has size 0, and got the header again before every batch."""
    st = os.fstat(fd)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _torn_header(torn: bytes, header: str) -> bool:
    """Whether ``torn``, a log's only bytes, is its ``header`` cut short: a start of it, then nothing or the zero
    bytes a power cut leaves (a file of any other content is not taken for a log)."""
    text = torn.rstrip(b"\0")
    return header.encode().startswith(text)


def _torn_row_names(line: bytes) -> str:
    """``SOURCE frame N`` of a torn row, where it got as far as both; else '' (read from its first 64 KiB: a torn
    line can be any length, and the csv module takes no field over 128 KiB)."""
    try:
        fields = next(csv.reader([line[:1 << 16].decode("utf-8", "replace")]), [])
    except csv.Error:
        return ""
    if len(fields) > FRAME_FIELD + 1 and fields[FRAME_FIELD].lstrip("-").isdigit():
        return f"{fields[SOURCE_FIELD]} frame {fields[FRAME_FIELD]}"
    return ""


def _torn_tail(path: Path) -> tuple[int, bytes]:
    """The size of ``path`` and its bytes after its last line end (b'' if it ends with one)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        pos, cut = end, 0
        while pos > 0:
            step = min(pos, 1 << 16)
            fh.seek(pos - step)
            newline = fh.read(step).rfind(b"\n")
            if newline >= 0:
                cut = pos - step + newline + 1
                break
            pos -= step
        fh.seek(cut)
        return end, fh.read()


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev)


def class_names_of(columns: Sequence[str]) -> tuple[str, ...]:
    """The class order of a log from its header (the ``p_<class>`` columns)."""
    return probability_columns(columns)


@dataclass(frozen=True)
class Resume:
    """What a log says for a restart: ``logged`` sources (their last row is final, not an error),
    ``errors`` (source → Unix s of its last row, an error), and ``since`` (Unix s) when the log began:
    the arrival time of its first row; for a log without rows, the time of the last row of the log it was rotated
    from (``resume_point(rotated=True)``), else the file's mtime; None when there is no log.
    ``retry``: sources whose last row is an error, to be read again whatever their mtime (``--retry-errors``,
    ``with_retry``; they are not in ``errors``). ``error_frames``: per source whose last row is an error, that
    row's frame (how many frames were read before the error, each with its row): a file read again gives rows
    from there on, so that those frames are not logged twice. ``logged_at``: per logged source, its last row's
    time (Unix s). ``rotated_logged``: sources with a final row at the end of the log this one was rotated from
    (``resume_point(rotated=True)``): a plain restart's look at the minute before the log began leaves them.
    ``logged_frames``: per logged source, its last row's frame + 1 (the frames of it with rows: a stack appended
    to since gives rows for its new frames alone)."""

    logged: frozenset[str]
    since: float | None
    errors: Mapping[str, float] = field(default_factory=dict)
    retry: frozenset[str] = frozenset()
    error_frames: Mapping[str, int] = field(default_factory=dict)
    logged_at: Mapping[str, float] = field(default_factory=dict)
    rotated_logged: frozenset[str] = frozenset()
    logged_frames: Mapping[str, int] = field(default_factory=dict)

    def done(self, path: str, mtime: float, skew_s: float = math.inf) -> bool:
        """Whether ``path`` (modified at ``mtime``, Unix s) needs no new row: its last row is final and the file
        was not written again more than ``skew_s`` (the file system's clock skew) after it (``logged_at``), or it is
        an error written after the file last changed."""
        if path in self.logged:
            return not mtime > self.logged_at.get(path, math.inf) + skew_s
        error_t = self.errors.get(path)
        return error_t is not None and mtime <= error_t


def resume_point(path: str | Path, among: set[str], retry_errors: bool = False, rotated: bool = False) -> Resume:
    """Read the log at ``path``; keeps only sources in ``among`` (file paths; bounded memory). With
    ``retry_errors``, a source whose last row is an error is to be read again (``Resume.retry``), e.g. after the
    config that caused it (a mask, a PONI file, the detector shape) was mended. With ``rotated``, the sources with a
    row in the last rows of the log it was rotated from (``rotated_last_rows``) are ``Resume.rotated_logged``, and a
    log without rows yet (rotated, then the monitor stopped before its next row) begins where that one ended: the
    files that arrived while the monitor was down are news, those logged before the rotation are not."""
    path = Path(path)
    wanted = {escape_source(p): p for p in among}
    last: dict[str, tuple[str, str, str]] = {}  # source → (status, time_utc, frame) of its last row
    try:
        with open(path, newline="", errors="replace") as fh:
            header = fh.readline()
            fh.seek(0)
            since, _ = _last_rows(fh, wanted, last)
            mtime = os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:  # none yet, or rotated away just now (its successor has no row yet)
        return Resume(frozenset(), None)
    rotated_logged, rotated_end = rotated_last_rows(path, header, since, wanted) if rotated else ({}, None)
    if since is None:
        since = mtime if rotated_end is None else rotated_end
    logged, errors, error_frames, logged_at, logged_frames = set(), {}, {}, {}, {}
    for source, (status, time_utc, frame) in last.items():
        if status != "error":
            logged.add(source)
            logged_frames[source] = int(frame) + 1 if frame.isdigit() else 1
            with contextlib.suppress(ValueError):
                logged_at[source] = parse_time(time_utc)
            continue
        try:
            errors[source] = parse_time(time_utc)
        except ValueError:
            errors[source] = float("-inf")  # when unknown: read it again
        error_frames[source] = int(frame) if frame.isdigit() else 0
    resume = Resume(frozenset(logged), since, errors, error_frames=error_frames, logged_at=logged_at,
                    logged_frames=logged_frames,
                    rotated_logged=frozenset(s for s, (status, _, _) in rotated_logged.items()
                                             if status != "error" and s not in last))
    return with_retry(resume, errors) if retry_errors else resume


#: bytes of the rotated log read for a restart: its last rows, those within the resume window (about 12,000 rows)
ROTATED_TAIL_BYTES = 4 << 20


def rotated_last_rows(path: Path, header: str, since: float | None,
                      wanted: Mapping[str, str]) -> tuple[dict[str, tuple[str, str, str]], float | None]:
    """The last row of each ``wanted`` source (as ``_last_rows``) among the last rows (``ROTATED_TAIL_BYTES``) of the
    log that ``path``, beginning with ``header`` and at ``since`` (Unix s; None: no row yet), was rotated from, and the
    time of that log's last row: the newest of ``NAME.N`` (``mv``, logrotate) and ``NAME-*`` (logrotate's
    ``dateext``) with the same header and a row, whose last row came before ``since`` (a compressed one has another
    first line; one rotated again before its first row, a header alone, is passed over for the one before it);
    for a log without rows, only one whose last rows name a file still present (``wanted``): an old log of another
    run or directory left beside a new one is not its predecessor. ({}, None) if none, or where it cannot be read (a
    warning)."""
    name = glob_escape(path.name)
    candidates = [c for c in [*path.parent.glob(name + ".[0-9]*"), *path.parent.glob(name + "-*")] if c.is_file()]
    for previous in sorted(candidates, key=_mtime_or_zero, reverse=True):
        try:
            with open(previous, "rb") as fh:
                if fh.readline().decode(errors="replace") != header:
                    continue
                start = os.fstat(fh.fileno()).st_size - ROTATED_TAIL_BYTES
                if start > fh.tell():
                    fh.seek(start - 1)
                    if fh.read(1) != b"\n":
                        fh.readline()  # the rest of a row cut by the seek
                text = header + fh.read().decode(errors="replace")
        except OSError as exc:
            log.warning("%s: the log rotated before %s cannot be read (%s): the files of its last minute may be "
                        "classified again", previous, path.name, exc.strerror or exc)
            continue
        rows: dict[str, tuple[str, str, str]] = {}
        _, last_time = _last_rows(io.StringIO(text, newline=""), wanted, rows)
        if last_time is not None and (last_time <= since + 1.0 if since is not None else bool(rows)):
            return rows, last_time
    return {}, None


def _mtime_or_zero(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _last_rows(fh, wanted: Mapping[str, str],
               last: dict[str, tuple[str, str, str]]) -> tuple[float | None, float | None]:
    """Fill ``last`` with the last row (status, time_utc, frame) of each ``wanted`` source in the CSV text ``fh``
    (later rows win); returns the arrival time of its first row and the time of its last row (Unix s), each None
    without one."""
    since, final = None, None
    reader = _parsable(csv.reader(fh))
    columns = next(reader, None)
    for fields in reader:
        if columns is None or len(fields) != len(columns) or fields == columns:
            continue  # a torn line, or the header of an appended file
        row = dict(zip(columns, fields))
        final = row.get("time_utc")
        if since is None:
            try:
                since = parse_time(row["time_utc"]) - float(row["latency_ms"] or 0.0) / 1e3
            except (ValueError, KeyError):
                pass
        source = wanted.get(row.get("source", ""))
        if source is not None:
            last[source] = (row["status"], row["time_utc"], row["frame"])
    try:
        return since, None if final is None else parse_time(final)
    except ValueError:
        return since, None


def _parsable(reader) -> Iterator[list[str]]:
    """The rows of a ``csv.reader``, passing over the lines it cannot parse (garbage written into the log: a field
    over the csv module's 128 KiB limit, a NUL): the reader goes on at the next line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            continue


def with_retry(resume: Resume, sources: Collection[str]) -> Resume:
    """``resume`` with the ``sources`` whose last row is an error to be read again whatever their mtime."""
    retry = frozenset(s for s in sources if s in resume.errors)
    return replace(resume, errors={s: t for s, t in resume.errors.items() if s not in retry},
                   retry=resume.retry | retry)


#: the start of a row of a CSV log: its time_utc
ROW_START = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d")


class LogFollower:
    """Follows a CSV log like ``tail -F``: ``poll`` returns the rows completed since the last call,
    reopening the file when it was rotated (moved or deleted and recreated) or truncated. The first
    poll reads only the last ``tail_bytes`` of a file there at that poll (the header is always read; a log that
    appears later is read whole). A log truncated in place and refilled beyond the point read between two polls is
    told by its bytes before that point, which no longer match the last ``CHECK_BYTES`` read (a whole row or more,
    its time included: rows end alike): it is looked at again as at the first poll (its header, then its last
    ``tail_bytes``), not from the middle of a row. A log cut back to the end of its last whole row, all before it
    unchanged (a monitor's start mending a torn last line), goes on from there: nothing is read twice (a 259-MB log
    was read whole again, 2.8 GB, and its million rows given again)."""

    #: bytes before the point read that must be unchanged at the next poll: more than a row (about 250 bytes), so that
    #: its time is among them (64, rows' ends alone, took a log emptied and refilled past the point read for unchanged)
    CHECK_BYTES = 1024

    def __init__(self, path: str | Path, tail_bytes: int = 1 << 20) -> None:
        self.path = Path(path)
        self.tail_bytes = tail_bytes
        self._first = True
        self._whole = False  # the log was not there at the first poll: all its rows are new
        self._fh = None
        self._partial = b""
        self._seen = b""  # the last CHECK_BYTES read, ending at the point read
        self._seen_rows = b""  # the last CHECK_BYTES read, ending at the end of the last whole line
        self._columns: list[str] | None = None
        self.skipped = 0  # lines that were not rows of a known header
        self.foreign = ""  # why the file is not a frame log, once its first line says so ('' while it may be one)

    @property
    def has_header(self) -> bool:
        """Whether a header line of a CSV log has been read."""
        return self._columns is not None

    def poll(self) -> list[Result]:
        if self._fh is None and not self._open():
            self._whole = self._whole or self._first
            return []
        if self._rewritten() and not self._cut_to_last_row():
            self._look(first=False)
        results = self._read()
        if self._replaced():
            results += self._read()
            self._fh.close()
            self._fh, self._partial, self._seen, self._seen_rows = None, b"", b"", b""
            if self._open():
                results += self._read()
        return results

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open(self) -> bool:
        """Open the log where its name names a regular file (False where not: none, or a directory or a FIFO put in
        its place, which would stop the follower or make it wait for a writer for good)."""
        try:  # not blocking: a FIFO opened to read waits for a writer
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, IsADirectoryError):
            return False
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return False
        os.set_blocking(fd, True)
        self._fh = os.fdopen(fd, "rb")
        if self._first:
            self._first = False
            self._look(first=True)
        return True

    def _look(self, first: bool) -> None:
        """Read the file from its start as at a first look: its header, then its rows from ``tail_bytes`` before its
        end on (all of a log that appeared after the follower started)."""
        self._fh.seek(0)
        self._seen = self._seen_rows = b""
        header = self._fh.readline()
        if first and header.endswith(b"\n") and not header.startswith(b"time_utc") and not ROW_START.match(header):
            self.foreign = "its first line is not a header starting with time_utc"  # nor a row: its header
            # lost to a copy-and-truncate rotation, which the writer puts back at its next start
        start = os.fstat(self._fh.fileno()).st_size - self.tail_bytes
        if start > len(header) and not self._whole:
            self._fh.seek(start)
            self._fh.readline()  # the rest of a cut line
        self._partial = header

    def _cut_to_last_row(self) -> bool:
        """Whether the file, shorter than the point read, was cut back no further than the end of the last whole line
        read, all before it unchanged (a torn last line removed): then reading goes on from that end."""
        fd, end = self._fh.fileno(), self._fh.tell() - len(self._partial)
        if os.fstat(fd).st_size < end or not self._seen_rows or end < len(self._seen_rows):
            return False
        if os.pread(fd, len(self._seen_rows), end - len(self._seen_rows)) != self._seen_rows:
            return False
        self._fh.seek(end)
        self._partial, self._seen = b"", self._seen_rows
        return True

    def _replaced(self) -> bool:
        """Whether the path now names another file, or none (moved away or deleted); the rest of ours is read first."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        own = os.fstat(self._fh.fileno())
        return (st.st_ino, st.st_dev) != (own.st_ino, own.st_dev)

    def _rewritten(self) -> bool:
        """Whether our file was truncated in place since the last read: shorter than the point read, or with other
        bytes before it (truncated and refilled past it)."""
        fd, offset = self._fh.fileno(), self._fh.tell()
        if os.fstat(fd).st_size < offset:
            return True
        return bool(self._seen) and os.pread(fd, len(self._seen), offset - len(self._seen)) != self._seen

    def _read(self) -> list[Result]:
        chunk = self._fh.read()
        self._seen = (self._seen + chunk)[-self.CHECK_BYTES:]
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        self._seen_rows = (self._seen_rows + data[:len(data) - len(self._partial)])[-self.CHECK_BYTES:]
        results = []
        for line in lines:
            try:
                fields = next(csv.reader([line.decode(errors="replace")]), [])
            except csv.Error:  # e.g. a carriage return or NUL in an unquoted field: not a line of ours
                self.skipped += 1
                continue
            if fields and fields[0] == "time_utc":
                if "status" in fields:
                    self._columns = fields
                else:
                    self.foreign = ("an events log (NAME.events.csv); its frames' log is NAME.csv"
                                    if {"from", "to"} <= set(fields) else "its header has no status column")
                continue
            if self._columns is None or len(fields) != len(self._columns):
                self.skipped += 1
                continue
            try:
                result = Result.from_row(dict(zip(self._columns, fields)), class_names_of(self._columns))
                results.append(replace(result, source=unescape_source(result.source)))
            except (ValueError, KeyError):
                self.skipped += 1
        return results
