"""The landing step chooses a day's source once and records it; the bars take that source
alone, and candidate bars from either source are finalised the same way."""

from __future__ import annotations

from datetime import date

import pytest

from market_data.datasets import DATASETS
from market_data.errors import ConfigurationError
from market_data.pipeline import build_bars
from market_data.transform.bar_store import BarStore
from market_data.transform.landing import (
    FileNotPublished,
    NotLanded,
    RestPolicy,
    SourceChoice,
    candidate_bars,
    land_day_file,
    recorded_choice,
)
from market_data.transform.parse import parse_day_file
from market_data_tests.transform.conftest import DAY

STOCKS = DATASETS["stocks"]
WATCH = frozenset({"SPY", "A"})
REST_TODAY = RestPolicy(enabled=True, window_days=2, today=DAY)


def test_a_published_file_is_the_days_source_and_its_bars_are_the_files(
    s3_client, bucket, day_files, tmp_path
):
    s3_client.put_object(Bucket=bucket, Key=STOCKS.key(DAY), Body=day_files["stocks"].read_bytes())
    landing = tmp_path / "landing"
    _, choice = land_day_file(STOCKS, DAY, s3_client, bucket, landing, REST_TODAY)
    assert choice == SourceChoice("flat_file", "day file published")
    assert recorded_choice(landing, STOCKS, DAY) == choice

    built = build_bars(STOCKS, DAY, landing, WATCH, BarStore(root=tmp_path / "bars"))
    expected = parse_day_file(day_files["stocks"], STOCKS, STOCKS.window(DAY), WATCH)
    assert built.choice == choice
    assert built.parsed.bars.equals(expected.bars) and built.parsed.rows_kept > 0


def test_rest_chosen_at_landing_is_kept_by_the_bars(s3_client, bucket, tmp_path):
    landing = tmp_path / "landing"
    _, choice = land_day_file(STOCKS, DAY, s3_client, bucket, landing, REST_TODAY)
    assert choice.source == "rest"
    # The bars do not choose again: REST it is, and REST needs a client.
    with pytest.raises(ConfigurationError, match=f"REST stocks {DAY}: the REST path needs"):
        candidate_bars(STOCKS, DAY, landing, WATCH, rest_client=None)


def test_bars_of_a_day_never_landed_say_which_asset_to_run(tmp_path):
    with pytest.raises(
        NotLanded, match=f"stocks {DAY}: not landed yet; materialize stocks_day_file"
    ):
        candidate_bars(STOCKS, DAY, tmp_path / "landing", WATCH)


def test_a_withdrawn_file_takes_its_recorded_choice_with_it(s3_client, bucket, day_files, tmp_path):
    key = STOCKS.key(DAY)
    s3_client.put_object(Bucket=bucket, Key=key, Body=day_files["stocks"].read_bytes())
    landing = tmp_path / "landing"
    land_day_file(STOCKS, DAY, s3_client, bucket, landing)
    s3_client.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(FileNotPublished, match="the REST path is disabled"):
        land_day_file(STOCKS, DAY, s3_client, bucket, landing, RestPolicy(today=DAY))
    with pytest.raises(NotLanded, match="not landed yet"):
        recorded_choice(landing, STOCKS, DAY)


def test_a_day_without_a_session_lands_as_nothing(s3_client, bucket, tmp_path):
    saturday = date(2025, 11, 22)
    landing = tmp_path / "landing"
    _, choice = land_day_file(STOCKS, saturday, s3_client, bucket, landing)
    assert choice.source == "none"
    landed = candidate_bars(STOCKS, saturday, landing, WATCH)
    assert landed.candidates.rows is None and landed.underlyings == frozenset()
