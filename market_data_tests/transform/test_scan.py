"""The scan finds exactly the lines the full parse keeps, whatever the chunking."""

from __future__ import annotations

import gzip

import pytest

from market_data.datasets import DATASETS
from market_data.transform import parse, scan
from market_data.transform.parse import parse_day_file
from market_data_tests.transform.conftest import DAY

WATCH = {
    "indices": {"SPX", "NDX", "VIX"},
    "stocks": {"SPY", "NA", "BRK.B", "A"},
    "options": {"SPX", "SPY", "AMC"},
}


def both_ways(path, name, monkeypatch, chunk: int):
    dataset = DATASETS[name]
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
    fast = parse_day_file(path, dataset, dataset.window(DAY), frozenset(WATCH[name]))
    monkeypatch.setattr(parse, "scan_lines", _out_of_order)
    slow = parse_day_file(path, dataset, dataset.window(DAY), frozenset(WATCH[name]))
    monkeypatch.undo()
    return fast, slow


def _out_of_order(*args, **kwargs):
    raise scan.OutOfOrder("forced")


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize(
    "chunk", [61, 997, 64 * 1024, 32 * 1024 * 1024]
)  # 61: lines longer than a chunk
def test_the_scan_keeps_what_the_full_parse_keeps(day_files, name, chunk, monkeypatch):
    fast, slow = both_ways(day_files[name], name, monkeypatch, chunk)
    assert fast.rows_kept > 0
    assert fast.bars.equals(slow.bars)
    assert fast.rows_read == slow.rows_read


def test_an_unsorted_file_is_parsed_the_slow_way(tmp_path):
    body = "ticker,volume,open,close,high,low,window_start,transactions\n"
    start = 1764081000000000000
    lines = [f"SPY,1,1,1,1,1,{start + i * 60_000_000_000},1" for i in range(3)]
    lines.append(f"AAPL,1,1,1,1,1,{start},1")  # out of order
    path = tmp_path / "unsorted.csv.gz"
    path.write_bytes(gzip.compress((body + "\n".join(lines)).encode()))  # no final newline
    with pytest.raises(scan.OutOfOrder):
        scan.scan_lines(path, [b"SPY,"], "unsorted")
    stocks = DATASETS["stocks"]
    parsed = parse_day_file(path, stocks, stocks.window(DAY), frozenset({"SPY"}))
    assert parsed.rows_kept == 3 and parsed.rows_read == 4
