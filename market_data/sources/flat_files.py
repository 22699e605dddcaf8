"""Day files from the flat-file bucket into a local landing area, atomically and verified.

Each landed file has a manifest beside it (key, size, ETag). A re-run asks the bucket
for the object's current ETag and size and downloads again only when they changed,
so a republished file is picked up and an unchanged one costs one HEAD request.
A half-written download never carries the final name: it is written to ``.part``,
checked against the size (and MD5 where the ETag is one) and then renamed.
A caller may read the bytes as they arrive (``new_reader``): the parse's scan decompresses
them then, so a downloaded file is not read back. A reader that decoded the whole gzip
stream has checked every member's CRC-32 and length, which stands in for the MD5.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import mmap
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from market_data.errors import MarketDataError, SourceError

CHUNK_BYTES = 1024 * 1024  # a reader decompresses one while the next arrives
AHEAD_CHUNKS = 8  # chunks received ahead of a reader, at most
DOWNLOAD_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 2.0
_PLAIN_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")


class FlatFileError(SourceError):
    """A day file could not be fetched; the message names the object."""


class FlatFileAccessDenied(FlatFileError):
    """The bucket refused the credentials (403): retrying will not help."""


class LandingAreaFull(FlatFileError):
    """The landing area's disk is full: no download can land until space is freed."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _landing_full(path: Path, key: str, error: OSError) -> LandingAreaFull:
    return LandingAreaFull(
        f"{key}: the landing area {path.parent} is full ({error.strerror}); free space "
        "there (MARKET_DATA_HOME/landing) and run the failed days again"
    )


# Reads a download as it arrives, to its end or until it gives up; True when it decoded the
# whole stream as gzip, every member's CRC-32 and length matching.
ReadAlong = Callable[[BinaryIO], bool]


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class LandedFile:
    """The outcome of fetching one day file.

    ``path`` is None when the bucket has no such object (a weekend, a holiday, or a
    file not published yet: the caller knows which by the calendar).
    """

    key: str
    path: Path | None
    size: int = 0
    etag: str | None = None
    downloaded: bool = False
    seconds: float = 0.0
    # Where the seconds went, by phase (``head``, ``get``: waiting for the body, ``write``:
    # the landing file, and a reader's own phases), for the run's metadata and the benchmark.
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def missing(self) -> bool:
        return self.path is None


def landing_path(landing_root: Path, key: str) -> Path:
    """Files land under the same relative path as their key, so the layout reads the same."""
    path = (landing_root / key).resolve()
    if landing_root.resolve() not in path.parents:
        raise FlatFileError(f"refusing key outside the landing area: {key!r}")
    return path


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def read_manifest(path: Path) -> RemoteObject | None:
    try:
        data = json.loads(_manifest_path(path).read_text())
        return RemoteObject(key=data["key"], size=int(data["size"]), etag=data["etag"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _write_manifest(path: Path, remote: RemoteObject) -> None:
    target = _manifest_path(path)
    tmp = target.with_name(target.name + ".part")
    try:
        tmp.write_text(json.dumps({**asdict(remote), "landed_at": time.time()}))
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            raise _landing_full(path, remote.key, error) from error
        raise


def _describe(error: ClientError) -> tuple[str, str]:
    info = error.response.get("Error", {})
    status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return status, str(info.get("Code") or info.get("Message") or "")


def head_object(client: Any, bucket: str, key: str) -> RemoteObject | None:
    """The object's size and ETag, or None when it does not exist."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        status, code = _describe(error)
        if status == "404" or code in {"404", "NoSuchKey", "NotFound"}:
            return None
        if status == "403" or code in {"403", "AccessDenied", "Forbidden"}:
            raise FlatFileAccessDenied(
                f"s3://{bucket}/{key}: access denied (403); check MASSIVE_AWS_ACCESS_KEY and "
                "MASSIVE_AWS_SECRET_KEY and that the plan includes this dataset"
            ) from error
        raise FlatFileError(f"s3://{bucket}/{key}: {status or code} {code}".strip()) from error
    except BotoCoreError as error:
        raise FlatFileError(f"s3://{bucket}/{key}: {error}") from error
    return RemoteObject(key=key, size=int(head["ContentLength"]), etag=head["ETag"].strip('"'))


def _is_current(path: Path, remote: RemoteObject) -> bool:
    landed = read_manifest(path)
    return (
        landed is not None
        and landed == remote
        and path.exists()
        and path.stat().st_size == remote.size
    )


class _Interrupted(FlatFileError):
    """A transfer broke off (reset, short read, corrupt bytes): worth another attempt."""


class _TransferBroken(MarketDataError):
    """A transfer or disk error carried out through a reader, which must not mistake it
    for bad gzip data (both can be OSErrors); unwrapped again by ``_download_once``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Tee(io.RawIOBase):
    """The response body as a stream: every byte read is also written to the part file."""

    def __init__(self, body: Any, out: _LandingWriter, md5: Any | None) -> None:
        self._body, self._out, self._md5 = body, out, md5
        self.written = 0
        self.get_seconds = 0.0  # waiting for the body's bytes
        self.write_seconds = 0.0  # writing them to the part file

    def readable(self) -> bool:
        return True

    def _next(self, size: int) -> bytes:
        """The body's next bytes (at most ``size``), written and hashed; b"" at its end."""
        try:
            started = time.perf_counter()
            data = self._body.read(size)
            received = time.perf_counter()
            self._out.write(data)
            self.get_seconds += received - started
            self.write_seconds += time.perf_counter() - received
        except BaseException as error:
            raise _TransferBroken(error) from error
        if self._md5 is not None:
            self._md5.update(data)
        self.written += len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self._next(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def drain(self) -> int:
        """Read what a reader left; the number of bytes that were left."""
        left, buffer = 0, bytearray(CHUNK_BYTES)
        while n := self.readinto(buffer):
            left += n
        return left

    def stop(self) -> None:
        """Nothing to stop: the body is read in the caller's thread."""

    @property
    def waited(self) -> float:
        """Seconds its reader waited for bytes: here, all of receiving and writing them."""
        return self.get_seconds + self.write_seconds


class _AheadTee(_Tee):
    """A ``_Tee`` that receives, writes and hashes the body in a thread of its own, up to
    ``AHEAD_CHUNKS`` chunks ahead of its reader: the reader (a decompressing scan) then
    works while the next bytes arrive and land, instead of after (both cores busy)."""

    def __init__(self, body: Any, out: _LandingWriter, md5: Any | None) -> None:
        super().__init__(body, out, md5)
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(AHEAD_CHUNKS)
        self._stopping = threading.Event()
        self._left = memoryview(b"")
        self._ended = False
        self.wait_seconds = 0.0  # the reader waiting for the next chunk
        self._thread = threading.Thread(target=self._receive, name="download", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                data: bytes | BaseException = self._next(CHUNK_BYTES)
            except _TransferBroken as broken:
                data = broken.error
            while not self._stopping.is_set():
                try:
                    self._chunks.put(data, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(data, bytes) or not data:
                return

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            if self._ended:
                return 0
            started = time.perf_counter()
            data = self._chunks.get()
            self.wait_seconds += time.perf_counter() - started
            if isinstance(data, BaseException):
                self._ended = True
                raise _TransferBroken(data)
            if not data:
                self._ended = True
                return 0
            self._left = memoryview(data)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def stop(self) -> None:
        """Stop receiving (the download ended or failed) and wait for the thread: the part
        file is closed after it."""
        self._stopping.set()
        self._thread.join()

    @property
    def waited(self) -> float:
        return self.wait_seconds


DIRECT_BUFFER_BYTES = 8 * 1024 * 1024  # a multiple of any disk's block size
_DIRECT_BLOCK = 4096


class _LandingWriter:
    """Writes a download to its part file past the page cache (``O_DIRECT``) where the
    filesystem allows it, else as usual.

    Copying a download into the page cache costs the kernel about as much CPU as ISA-L's
    decompression of the same bytes on these machines (1.6 GB: 2.0 s of system time buffered,
    0.05 s direct), and nothing reads the landed file soon: its lines were scanned as they
    arrived. Direct writes need aligned memory and whole blocks, so the bytes gather in an
    ``mmap`` (page-aligned) buffer; the last partial block is written after O_DIRECT is
    turned off for the file."""

    def __init__(self, path: Path, try_direct: bool = True) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        direct = getattr(os, "O_DIRECT", 0) if try_direct else 0
        self._fd, self.direct = -1, False
        if direct:
            try:
                self._fd, self.direct = os.open(path, flags | direct, 0o644), True
            except OSError as error:
                if error.errno != errno.EINVAL:  # EINVAL: this filesystem cannot
                    raise
        if self._fd < 0:
            self._fd = os.open(path, flags, 0o644)
        self._buffer = mmap.mmap(-1, DIRECT_BUFFER_BYTES) if self.direct else None
        self._filled = 0

    def write(self, data: bytes) -> int:
        if self._buffer is None:
            self._write_all(memoryview(data))
            return len(data)
        view = memoryview(data)
        while view:
            n = min(len(view), DIRECT_BUFFER_BYTES - self._filled)
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == DIRECT_BUFFER_BYTES:
                self._write_buffered_bytes(0, DIRECT_BUFFER_BYTES)
                self._filled = 0
        return len(data)

    def _write_buffered_bytes(self, start: int, end: int) -> None:
        """Write the buffer's ``[start:end]`` (whole blocks while direct)."""
        assert self._buffer is not None
        with memoryview(self._buffer) as view:
            try:
                self._write_all(view[start:end])
            except OSError as error:
                if error.errno != errno.EINVAL or not self.direct:
                    raise
                self._buffered()  # opened, yet refused: write as usual from here on
                self._write_all(view[start:end])

    def _write_all(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self._fd, view) :]

    def _buffered(self) -> None:
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self.direct = False

    def close(self) -> None:
        """The whole blocks left direct, then the last partial one as usual."""
        if self._fd < 0:
            return
        try:
            if self._buffer is not None:
                whole = self._filled - self._filled % _DIRECT_BLOCK if self.direct else 0
                self._write_buffered_bytes(0, whole)
                if self.direct:
                    self._buffered()
                self._write_buffered_bytes(whole, self._filled)
        finally:
            os.close(self._fd)
            self._fd = -1
            if self._buffer is not None:
                self._buffer.close()

    def __enter__(self) -> _LandingWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _file_md5(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            md5.update(chunk)
    return md5.hexdigest()


# botocore checks a GetObject's CRC-32 when the server sends one (S3 does for an object
# uploaded with a checksum): a second pass over every byte, 0.4 s of CPU per GB here, beside
# the decompression. A download that a reader decodes is checked by gzip instead (every
# member's CRC-32 and length), so it asks for no checksum; any other download still does.
_READ_ALONG = threading.local()


def _no_transfer_checksum_when_read_along(params: dict[str, Any], model: Any, **_: Any) -> None:
    """A botocore ``before-parameter-build`` handler, run after botocore's own, which asks
    for the checksum (``ChecksumMode``) by default."""
    if model.name == "GetObject" and getattr(_READ_ALONG, "active", False):
        params.pop("ChecksumMode", None)


def _get_object(client: Any, bucket: str, remote: RemoteObject, read_along: bool) -> Any:
    client.meta.events.register_last(
        "before-parameter-build",
        _no_transfer_checksum_when_read_along,
        unique_id="market-data-no-transfer-checksum-when-read-along",
    )
    _READ_ALONG.active = read_along
    try:
        return client.get_object(Bucket=bucket, Key=remote.key, IfMatch=remote.etag)
    finally:
        _READ_ALONG.active = False


def _download_once(
    client: Any, bucket: str, remote: RemoteObject, part: Path, read_along: ReadAlong | None
) -> dict[str, float]:
    """Download to ``part``; the seconds spent receiving the body, writing it, and (a
    reader's) waiting for it."""
    where = f"s3://{bucket}/{remote.key}"
    checks_md5 = bool(_PLAIN_MD5_ETAG.match(remote.etag))
    # Hashed as it comes unless a reader decodes it: its gzip checks then stand in.
    md5 = hashlib.md5(usedforsecurity=False) if checks_md5 and not read_along else None
    tee: _Tee | None = None
    verified = False
    try:
        response = _get_object(client, bucket, remote, read_along is not None)
        with _LandingWriter(part) as out:
            tee = (_AheadTee if read_along else _Tee)(response["Body"], out, md5)
            try:
                if read_along is not None:
                    verified = read_along(io.BufferedReader(tee, CHUNK_BYTES))
                verified = tee.drain() == 0 and verified  # nothing the reader did not see
            except _TransferBroken as broken:
                raise broken.error from None
            finally:
                tee.stop()
    except ClientError as error:
        status, code = _describe(error)
        if status == "412":
            raise FlatFileError(f"{where}: republished during download; run again") from error
        if status == "403":
            raise FlatFileAccessDenied(f"{where}: access denied (403) on download") from error
        raise FlatFileError(f"{where}: download failed: {status} {code}".strip()) from error
    except (OSError, BotoCoreError, urllib3.exceptions.HTTPError) as error:
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            raise _landing_full(part, remote.key, error) from error  # no retry frees a disk
        written = tee.written if tee else 0
        raise _Interrupted(
            f"{where}: download broke off after {written:,} bytes: {error}"
        ) from error
    if tee.written != remote.size:
        raise _Interrupted(f"{where}: got {tee.written:,} bytes, expected {remote.size:,}")
    if checks_md5 and not verified:
        digest = md5.hexdigest() if md5 is not None else _file_md5(part)
        if digest != remote.etag:
            raise _Interrupted(f"{where}: MD5 does not match the ETag")
    return {"get": tee.get_seconds, "write": tee.write_seconds, "wait": tee.waited}


def _download(
    client: Any,
    bucket: str,
    remote: RemoteObject,
    path: Path,
    attempts: int = DOWNLOAD_ATTEMPTS,
    new_reader: Callable[[], ReadAlong] | None = None,
) -> dict[str, float]:
    """Download to ``.part``, verify, rename (the last attempt's phases); a broken transfer is tried again from the start
    (with a new reader), and whatever happens no half file keeps the final name or stays
    behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            phases = _download_once(
                client, bucket, remote, part, new_reader() if new_reader else None
            )
        except _Interrupted as error:
            part.unlink(missing_ok=True)
            if attempt == attempts:
                raise FlatFileError(f"{error} (gave up after {attempts} attempts)") from error
            time.sleep(min(30.0, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        else:
            os.replace(part, path)
            return phases
    raise AssertionError("unreachable: the last attempt returns or raises")


def fetch_day_file(
    client: Any,
    bucket: str,
    key: str,
    landing_root: Path,
    new_reader: Callable[[], ReadAlong] | None = None,
) -> LandedFile:
    """Make the landing area hold the bucket's current version of ``key``; a download is
    also read as it arrives by a reader from ``new_reader``, one per attempt (the last one
    read the landed file)."""
    started = time.perf_counter()
    path = landing_path(landing_root, key)
    remote = head_object(client, bucket, key)
    phases = {"head": time.perf_counter() - started}
    if remote is None:
        return LandedFile(key=key, path=None, seconds=phases["head"], phases=phases)
    downloaded = False
    if not _is_current(path, remote):
        phases |= _download(client, bucket, remote, path, new_reader=new_reader)
        _write_manifest(path, remote)
        downloaded = True
    return LandedFile(
        key=key,
        path=path,
        size=remote.size,
        etag=remote.etag,
        downloaded=downloaded,
        seconds=time.perf_counter() - started,
        phases=phases,
    )
