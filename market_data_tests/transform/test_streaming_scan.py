"""A day file scanned while it downloads: the same lines as a scan of the landed file, and
the parse takes them instead of reading the file again, only while they match it."""

from __future__ import annotations

import gzip
import io

import pytest

from market_data.datasets import DATASETS
from market_data.pipeline import build_bars, land_day_file
from market_data.transform.bar_store import BarStore
from market_data.transform.parse import DayFileError, parse_day_file
from market_data.transform.scan import DownloadScan, scan_lines
from market_data.transform.scanned_lines import load_scanned_lines, scanned_lines_path
from market_data_tests.transform.conftest import DAY

WATCH = {
    "indices": frozenset({"SPX", "NDX", "VIX"}),
    "stocks": frozenset({"SPY", "NA", "BRK.B", "A"}),
    "options": frozenset({"SPX", "SPY", "AMC"}),
}


def prefixes(name: str) -> list[bytes]:
    return DATASETS[name].tickers.line_prefixes(WATCH[name])


def line_set(lines: list) -> set[bytes]:
    """The lines kept; overlapping prefixes (``O:SPX``, ``O:SPXW``) may keep one twice, as
    many times as chunk bounds fall, and the parse drops such repeats."""
    return set(b"".join(lines).splitlines())


class Arriving(io.RawIOBase):
    """Bytes as a download hands them over: at most ``chunk`` at a time."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk, self.at = data, chunk, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        piece = self.data[self.at : self.at + min(self.chunk, len(buffer))]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


def streamed(data: bytes, name: str, chunk: int) -> DownloadScan:
    scan = DownloadScan(prefixes(name), name)
    verified = scan(Arriving(data, chunk))
    assert verified == (scan.scanned is not None)
    return scan


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("chunk", [61, 997, 64 * 1024, 8 * 1024 * 1024])
def test_the_streaming_scan_keeps_what_the_file_scan_keeps(day_files, name, chunk):
    from_file = scan_lines(day_files[name], prefixes(name), name)
    result = streamed(day_files[name].read_bytes(), name, chunk).scanned
    assert result is not None and from_file.rows_read > 0 and from_file.lines
    assert result.header == from_file.header
    assert result.rows_read == from_file.rows_read
    assert line_set(result.lines) == line_set(from_file.lines)


def test_a_file_of_several_gzip_members_is_read_whole(day_files):
    lines = gzip.decompress(day_files["stocks"].read_bytes()).splitlines(keepends=True)
    half = len(lines) // 2
    data = gzip.compress(b"".join(lines[:half])) + gzip.compress(b"".join(lines[half:]))
    result = streamed(data, "stocks", 997).scanned
    assert result is not None
    assert result.rows_read == len(lines) - 1
    expected = scan_lines(day_files["stocks"], prefixes("stocks"), "stocks")
    assert line_set(result.lines) == line_set(expected.lines)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:1000] + bytes(len(data) - 2000) + data[-1000:],  # corrupt
        lambda data: data + b"not gzip",  # trailing garbage
    ],
    ids=["truncated", "corrupt", "trailing garbage"],
)
def test_a_stream_it_cannot_read_leaves_no_result(day_files, damage):
    assert streamed(damage(day_files["stocks"].read_bytes()), "stocks", 64 * 1024).scanned is None


def test_an_unsorted_stream_leaves_no_result():
    start = 1764081000000000000
    body = "ticker,volume,open,close,high,low,window_start,transactions\n" + "".join(
        f"{t},1,1,1,1,1,{start},1\n" for t in ("SPY", "SPY", "AAPL")
    )
    assert streamed(gzip.compress(body.encode()), "stocks", 10).scanned is None


def test_a_downloaded_day_is_parsed_from_its_scanned_lines(s3_client, bucket, day_files, tmp_path):
    stocks = DATASETS["stocks"]
    key = stocks.key(DAY)
    s3_client.put_object(Bucket=bucket, Key=key, Body=day_files["stocks"].read_bytes())
    landing, store = tmp_path / "landing", BarStore(root=tmp_path / "bars")
    expected = parse_day_file(day_files["stocks"], stocks, stocks.window(DAY), WATCH["stocks"])

    landed, _ = land_day_file(stocks, DAY, s3_client, bucket, landing, scan_for=prefixes("stocks"))
    assert landed.downloaded and scanned_lines_path(landed.path).exists()
    # Were the landed file read again, this would fail: only the saved lines are left.
    landed.path.write_bytes(b"no longer gzip")
    built = build_bars(stocks, DAY, landing, WATCH["stocks"], store)
    assert built.parsed.bars.equals(expected.bars)
    assert built.parsed.rows_read == expected.rows_read
    assert not scanned_lines_path(landed.path).exists()  # used once
    with pytest.raises(DayFileError, match="not a readable gzip file"):
        build_bars(stocks, DAY, landing, WATCH["stocks"], store)


def test_saved_lines_stand_for_the_file_only_while_they_match(
    s3_client, bucket, day_files, tmp_path
):
    stocks = DATASETS["stocks"]
    key = stocks.key(DAY)
    s3_client.put_object(Bucket=bucket, Key=key, Body=day_files["stocks"].read_bytes())
    landing = tmp_path / "landing"
    landed, _ = land_day_file(stocks, DAY, s3_client, bucket, landing, scan_for=prefixes("stocks"))
    assert load_scanned_lines(landed.path, prefixes("stocks")) is not None
    assert load_scanned_lines(landed.path, prefixes("stocks")[:2]) is not None  # fewer: kept
    wider = stocks.tickers.line_prefixes(WATCH["stocks"] | {"QQQ"})
    assert load_scanned_lines(landed.path, wider) is None  # a symbol it did not look for

    # Republished, downloaded again without a scan: the old lines no longer stand for it.
    s3_client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"ticker\n"))
    again, _ = land_day_file(stocks, DAY, s3_client, bucket, landing)
    assert again.downloaded
    assert load_scanned_lines(again.path, prefixes("stocks")) is None
