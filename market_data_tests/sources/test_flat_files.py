"""Landing day files from a real S3-compatible server: manifest, republish, missing objects."""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from market_data.sources.flat_files import (
    DIRECT_BUFFER_BYTES,
    FlatFileError,
    _LandingWriter,
    fetch_day_file,
    landing_path,
    read_manifest,
)

KEY = "us_stocks_sip/minute_aggs_v1/2025/11/2025-11-25.csv.gz"


def put(s3_client, bucket: str, body: bytes, key: str = KEY) -> str:
    return s3_client.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')


def test_download_then_skip_then_republish(s3_client, bucket, tmp_path):
    first_body = gzip.compress(b"ticker,volume\nSPY,1\n")
    etag = put(s3_client, bucket, first_body)

    landed = fetch_day_file(s3_client, bucket, KEY, tmp_path)
    assert landed.downloaded and landed.etag == etag and landed.size == len(first_body)
    assert landed.path == tmp_path / KEY
    assert landed.path.read_bytes() == first_body
    assert read_manifest(landed.path).etag == etag

    again = fetch_day_file(s3_client, bucket, KEY, tmp_path)
    assert not again.downloaded and again.path == landed.path

    second_body = gzip.compress(b"ticker,volume\nSPY,2\n")
    new_etag = put(s3_client, bucket, second_body)
    republished = fetch_day_file(s3_client, bucket, KEY, tmp_path)
    assert republished.downloaded and republished.etag == new_etag != etag
    assert republished.path.read_bytes() == second_body
    assert not list(tmp_path.rglob("*.part"))


def test_a_local_file_that_differs_from_its_manifest_is_fetched_again(s3_client, bucket, tmp_path):
    body = gzip.compress(b"ticker\nSPY\n")
    put(s3_client, bucket, body)
    landed = fetch_day_file(s3_client, bucket, KEY, tmp_path)
    landed.path.write_bytes(body[:5])  # damaged on disk
    assert fetch_day_file(s3_client, bucket, KEY, tmp_path).downloaded
    assert landed.path.read_bytes() == body


def test_missing_object_is_reported_not_raised(s3_client, bucket, tmp_path):
    landed = fetch_day_file(s3_client, bucket, KEY, tmp_path)
    assert landed.missing and landed.path is None


def test_keys_cannot_escape_the_landing_area(tmp_path):
    with pytest.raises(FlatFileError, match="outside the landing area"):
        landing_path(tmp_path, "../../etc/passwd")


@pytest.mark.parametrize(
    "body",
    [gzip.compress(b"ticker,volume\nSPY,1\n" * 50_000), b"not gzip"],
    ids=["gzip", "not gzip"],
)
def test_a_reader_sees_the_download_as_it_lands_whatever_it_makes_of_it(
    s3_client, bucket, tmp_path, body
):
    put(s3_client, bucket, body)
    seen: list[bytes] = []

    def reader(stream) -> bool:
        seen.append(stream.read(1000))  # it may stop early: the rest still lands
        return False

    landed = fetch_day_file(s3_client, bucket, KEY, tmp_path, new_reader=lambda: reader)
    assert landed.downloaded and landed.path.read_bytes() == body
    assert seen == [body[:1000]]


def test_a_download_read_along_asks_for_no_transfer_checksum_any_other_does(
    s3_client, bucket, tmp_path
):
    """gzip checks what its reader decodes; botocore's CRC-32 would be a second pass."""
    body = gzip.compress(b"ticker,volume\nSPY,1\n")
    put(s3_client, bucket, body)
    checksums: list[str | None] = []
    s3_client.meta.events.register(
        "after-call.s3.GetObject",
        lambda http_response, **_: checksums.append(
            http_response.headers.get("x-amz-checksum-crc32")
        ),
    )

    def reader(stream) -> bool:
        return gzip.decompress(stream.read()) == b"ticker,volume\nSPY,1\n"

    fetch_day_file(s3_client, bucket, KEY, tmp_path / "unread")
    landed = fetch_day_file(s3_client, bucket, KEY, tmp_path / "read", new_reader=lambda: reader)
    fetch_day_file(s3_client, bucket, KEY, tmp_path / "unread again")
    assert landed.downloaded and landed.path.read_bytes() == body
    assert checksums[0] is not None and checksums[2] == checksums[0]  # the server sends one
    assert checksums[1] is None


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, DIRECT_BUFFER_BYTES + 4097, 3 * 1024 * 1024])
@pytest.mark.parametrize("where", ["disk, direct", "disk, buffered", "tmpfs"])
def test_the_landing_writer_keeps_every_byte_whatever_the_sizes(size, where, tmp_path):
    data = os.urandom(size)
    # tmpfs: O_DIRECT refused at open on older kernels, taken on newer ones; either way works.
    root = Path(tempfile.mkdtemp(dir="/dev/shm")) if where == "tmpfs" else tmp_path
    path = root / "day.csv.gz.part"
    try:
        with _LandingWriter(path, try_direct=where != "disk, buffered") as out:
            at = 0
            for piece in itertools.cycle([1, 100_003, 1024 * 1024, 7]):
                if at >= size:
                    break
                assert out.write(data[at : at + piece]) == len(data[at : at + piece])
                at += piece
        assert path.read_bytes() == data
    finally:
        if where == "tmpfs":
            shutil.rmtree(root)
