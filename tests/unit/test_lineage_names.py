"""OpenLineage naming of what tasks touch (tierflow.lineage), through the providers' own
converters: the names Marquez, DataHub or OpenMetadata will see."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.lineage import Lineage, file_uri, table_uri

pytestmark = pytest.mark.unit


def _openlineage(uri: str) -> tuple[str, str]:
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    dataset = translate_airflow_asset(Asset(uri=uri), None)
    assert dataset is not None, f"no OpenLineage converter for {uri}"
    return dataset.namespace, dataset.name


def test_tables_and_files_get_openlineage_names():
    uri = table_uri("pool.psb_household_d7", ("db.example:6432", "tierflow"))
    assert uri == "postgres://db.example:6432/tierflow/pool/psb_household_d7"
    assert _openlineage(uri) == ("postgres://db.example:6432", "tierflow.pool.psb_household_d7")
    folder = Path("/data/feeds/500101/person/run_1")
    assert _openlineage(file_uri(folder)) == ("file", str(folder))


def test_a_quoted_or_unqualified_table_is_refused():
    for bad in ('pool."x"', "person"):
        with pytest.raises(ValueError, match="unquoted schema.table"):
            table_uri(bad, ("h:1", "d"))


def test_a_table_read_after_being_written_is_an_output_only():
    lineage = Lineage.of(inputs=["a", "b", "a"], outputs=["b", "c", "c"])
    assert lineage == Lineage(inputs=("a",), outputs=("b", "c"))
