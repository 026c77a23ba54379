"""Feeds are data (schemas/feeds/*.yaml): columns derived from the survivorship rules and the
contracts, broken files refused in one line, the derived layout held by a snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tierflow.contracts import ContractError
from tierflow.sink.sources import feeds, load_feed_file

pytestmark = pytest.mark.unit

BROKEN = Path(__file__).parents[1] / "broken_feeds"
SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "feeds.txt"


def describe_feeds() -> str:
    lines = []
    for feed in feeds():
        lines.append(
            f"{feed.name}: {feed.table} key={','.join(feed.key)} scope={feed.scope}"
            f" append_only={feed.append_only}"
        )
        for column, kind in feed.columns.items():
            sources = ", ".join(f"{d}.{f}" for d, f in feed.sources_of(column))
            lines.append(f"  {feed.output_name(column)} {kind} <- {sources}")
    return "\n".join(lines) + "\n"


def test_the_feed_layout_matches_the_snapshot():
    """What districts receive is a contract: a change shows here as a readable diff."""
    actual = describe_feeds()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
    assert actual == SNAPSHOT.read_text(encoding="utf-8")


def test_every_feed_column_is_filled_by_a_dataset_field():
    for feed in feeds():
        assert set(feed.key) <= set(feed.columns)
        for column in feed.columns:
            assert feed.sources_of(column), (feed.name, column)


def _broken_cases() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


@pytest.mark.parametrize("path", _broken_cases(), ids=lambda p: p.stem)
def test_a_broken_feed_file_is_refused_in_one_line(path):
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect:").strip()
    with pytest.raises(ContractError) as excinfo:
        load_feed_file(path, check_name=False)
    message = str(excinfo.value)
    assert message.startswith(path.name) and expected in message and "\n" not in message, message


def test_there_are_enough_broken_feed_cases():
    assert len(_broken_cases()) >= 10
