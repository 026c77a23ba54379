"""Custom GX 1.x expectations for the tierflow rules GX has no built-in for.

Importing this module registers every expectation and its metric with GX. Each metric's
pandas implementation converts the column(s) to Arrow and calls the matching function in
``masks`` — the same code row-level quarantine runs — so GX counts and quarantine agree.
``masks`` returns True for a failing row; a GX condition is True for a passing row.

Only ``suites`` imports this module, lazily: importing GX costs seconds and DAG files
import tierflow modules at parse time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.compatibility import pydantic
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    render_suite_parameter_string,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
)
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import (
    RendererConfiguration,
    RendererValueType,
)

from tierflow.checks import masks

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

STRING = pa.string()
LIBRARY_METADATA: dict[str, Any] = {
    "maturity": "production",
    "tags": ["tierflow", "design §4"],
    "contributors": ["@tierflow"],
    "requirements": ["pyarrow", "shapely"],
    "has_full_test_suite": True,
    "manually_reviewed_code": True,
}


# --- pandas -> Arrow ---------------------------------------------------------------------------


def to_arrow(series: pd.Series, null_type: pa.DataType = STRING) -> pa.Array:
    """The Arrow array ``masks`` expects, whatever pandas dtype the batch arrived in.

    pandas 3 gives ``large_string`` for strings (masks build ``string`` value sets), object
    ``datetime.date`` or naive ``datetime64`` for dates, and an untyped null array for an
    all-None object column; all are normalised here so a mask never sees a surprise type.
    """
    arr = pa.Array.from_pandas(series)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), type=null_type)
    if pa.types.is_large_string(arr.type):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(arr.type) and arr.type.tz is None:
        return _naive_timestamps(arr)
    return arr


def _naive_timestamps(arr: pa.Array) -> pa.Array:
    # Contract timestamps are tz-aware UTC, so a naive one is a date column that pandas turned
    # into datetime64 (all midnights): treat it as date32 so "not in the future" compares
    # calendar days. Anything else without an offset is Asia/Shanghai (design §5).
    as_date = pc.cast(arr, pa.date32())
    if pc.all(pc.equal(pc.cast(as_date, arr.type), arr)).as_py() is not False:
        return as_date
    return pc.assume_timezone(arr, "Asia/Shanghai")


def _passing(series: pd.Series, failing: np.ndarray) -> pd.Series:
    # GX indexes the condition series against its (null-filtered) frame: keep the index.
    return pd.Series(~failing, index=series.index, dtype=bool)


def _column_condition(fn: Callable[..., np.ndarray], null_type: pa.DataType) -> Callable:
    def _pandas(cls: type, column: pd.Series, **kwargs: Any) -> pd.Series:
        kwargs.pop("_metrics", None)
        return _passing(column, fn(to_arrow(column, null_type), **kwargs))

    return column_condition_partial(engine=PandasExecutionEngine)(_pandas)


def _pair_condition(
    fn: Callable[[pa.Array, pa.Array], np.ndarray], types: tuple[pa.DataType, pa.DataType]
) -> Callable:
    def _pandas(cls: type, column_A: pd.Series, column_B: pd.Series, **kwargs: Any) -> pd.Series:
        failing = fn(to_arrow(column_A, types[0]), to_arrow(column_B, types[1]))
        return _passing(column_A, failing)

    return column_pair_condition_partial(engine=PandasExecutionEngine)(_pandas)


def _not_future(values: pa.Array) -> np.ndarray:
    # "now" is read when the metric runs, as row-level quarantine does with RuleContext.now.
    return masks.not_future(values, dt.datetime.now(dt.UTC))


def _division_code(
    values: pa.Array, known_districts: list[str], township_prefixes: list[str] | None = None
) -> np.ndarray:
    return masks.division_code(values, list(known_districts), list(township_prefixes or []) or None)


# --- metrics -----------------------------------------------------------------------------------


class ColumnValuesTierflowCitizenId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierflow_valid_citizen_id"
    _pandas = _column_condition(masks.citizen_id, pa.string())


class ColumnValuesTierflowUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierflow_valid_uscc"
    _pandas = _column_condition(masks.uscc, pa.string())


class ColumnValuesTierflowDivisionCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierflow_known_division_code"
    condition_value_keys = ("known_districts", "township_prefixes")
    _pandas = _column_condition(_division_code, pa.string())


class ColumnValuesTierflowPolygon(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierflow_polygon_in_city_box"
    _pandas = _column_condition(masks.wkt_polygon, pa.string())


class ColumnValuesTierflowNotFuture(ColumnMapMetricProvider):
    condition_metric_name = "column_values.tierflow_not_in_the_future"
    _pandas = _column_condition(_not_future, pa.timestamp("us", tz="UTC"))


class ColumnPairTierflowBirthDate(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierflow_birth_date_matches_citizen_id"
    _pandas = _pair_condition(masks.birth_date_matches_id, (pa.date32(), pa.string()))


class ColumnPairTierflowGender(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierflow_gender_matches_citizen_id"
    _pandas = _pair_condition(masks.gender_matches_id, (pa.string(), pa.string()))


class ColumnPairTierflowHolderId(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierflow_holder_id_matches_kind"
    _pandas = _pair_condition(masks.holder_id_matches_kind, (pa.string(), pa.string()))


class ColumnPairTierflowCityBox(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.tierflow_in_city_box"
    _pandas = _pair_condition(masks.in_city_box, (pa.float64(), pa.float64()))


# --- rendering ---------------------------------------------------------------------------------


class _Rendered:
    """Data Docs text for a tierflow expectation: a sentence plus the expectation type.

    The type is shown so an operator can grep a failure back to the rule set.
    """

    sentence: ClassVar[str] = ""
    column_params: ClassVar[tuple[str, ...]] = ("column",)
    expectation_type: ClassVar[str]

    @classmethod
    def _template(cls, include_column_name: bool = True) -> str:
        # a pair always names its columns: the column section header shows only one of them
        if len(cls.column_params) > 1:
            head = " / ".join(f"${c}" for c in cls.column_params) + ": "
        else:
            head = "$column " if include_column_name else ""
        return f"{head}{cls.sentence} [$expectation_type]"

    @classmethod
    def _params(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = {c: kwargs.get(c) for c in cls.column_params}
        params["expectation_type"] = cls.expectation_type
        params["n_districts"] = len(kwargs.get("known_districts") or [])
        return params

    @classmethod
    def _prescriptive_template(
        cls, renderer_configuration: RendererConfiguration
    ) -> RendererConfiguration:
        for name in cls.column_params:
            renderer_configuration.add_param(name=name, param_type=RendererValueType.STRING)
        extra = cls._params(renderer_configuration.kwargs)
        renderer_configuration.add_param(
            name="expectation_type",
            param_type=RendererValueType.STRING,
            value=extra["expectation_type"],
        )
        renderer_configuration.add_param(
            name="n_districts", param_type=RendererValueType.NUMBER, value=extra["n_districts"]
        )
        renderer_configuration.template_str = cls._template(
            renderer_configuration.include_column_name
        )
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    @render_suite_parameter_string
    def _prescriptive_renderer(
        cls,
        configuration: Any = None,
        result: Any = None,
        runtime_configuration: dict | None = None,
        **kwargs: Any,
    ) -> list[RenderedStringTemplateContent]:
        # configuration is absent on some dispatch paths; fall back to the result's own.
        if configuration is None and result is not None:
            configuration = result.expectation_config
        runtime_configuration = runtime_configuration or {}
        include = runtime_configuration.get("include_column_name") is not False
        params = cls._params(configuration.kwargs if configuration is not None else {})
        return [
            RenderedStringTemplateContent(
                content_block_type="string_template",
                string_template={
                    "template": cls._template(include),
                    "params": params,
                    "styling": runtime_configuration.get("styling"),
                },
            )
        ]


class _ColumnRule(_Rendered, ColumnMapExpectation):
    library_metadata: ClassVar[dict[str, Any]] = LIBRARY_METADATA


class _PairRule(_Rendered, ColumnPairMapExpectation):
    library_metadata: ClassVar[dict[str, Any]] = LIBRARY_METADATA
    column_params: ClassVar[tuple[str, ...]] = ("column_A", "column_B")
    # GX's pandas engine drops rows per ignore_row_if before the metric; "neither" hands the
    # masks every row, and they decide themselves which nulls are not evaluated.
    ignore_row_if: Literal["neither"] = "neither"
    success_keys: ClassVar[tuple[str, ...]] = ("column_A", "column_B", "ignore_row_if", "mostly")


# --- expectations ------------------------------------------------------------------------------


class ExpectColumnValuesToBeValidCitizenId(_ColumnRule):
    """Values are GB 11643-1999 citizen ID numbers, checked to the letter (design §4).

    Check character right; the birth date a real calendar date from 1900-01-01 to today
    (Asia/Shanghai); the division part under a GB/T 2260 province and not an internal zone code.
    """

    map_metric = "column_values.tierflow_valid_citizen_id"
    sentence: ClassVar[str] = (
        "values must be GB 11643-1999 citizen ID numbers with a valid check character, "
        "a real birth date from 1900-01-01 to today and a GB/T 2260 province code, "
        "never an internal zone code (5099xx)."
    )


class ExpectColumnValuesToBeValidUscc(_ColumnRule):
    """Values are GB 32100-2015 unified social credit codes, checked to the letter (design §4)."""

    map_metric = "column_values.tierflow_valid_uscc"
    sentence: ClassVar[str] = (
        "values must be GB 32100-2015 unified social credit codes with valid check characters "
        "and a division part under a GB/T 2260 province, never an internal zone code (5099xx)."
    )


class ExpectColumnValuesToBeKnownDivisionCode(_ColumnRule):
    """Values are 12-digit division codes under a known district (and township, when loaded)."""

    known_districts: list[str] = pydantic.Field(description="6-digit codes of known districts")
    township_prefixes: list[str] | None = pydantic.Field(
        default=None, description="9-digit township codes from the official table, if loaded"
    )
    map_metric = "column_values.tierflow_known_division_code"
    success_keys = ("known_districts", "township_prefixes", "mostly")
    args_keys = ("column", "known_districts")
    sentence: ClassVar[str] = (
        "values must be 12-digit division codes under one of $n_districts known districts, "
        "township and village segments 001-599."
    )


class ExpectColumnValuesToBeValidPolygonInCityBox(_ColumnRule):
    """Values are WKT polygons, valid and non-empty, inside the city's bounding box."""

    map_metric = "column_values.tierflow_polygon_in_city_box"
    sentence: ClassVar[str] = "values must be valid WKT polygons inside the Chongqing bounding box."


class ExpectColumnValuesToNotBeInTheFuture(_ColumnRule):
    """Dates are not after today (Asia/Shanghai); timestamps are not after now."""

    map_metric = "column_values.tierflow_not_in_the_future"
    sentence: ClassVar[str] = "values must not be in the future."


class ExpectColumnPairValuesBirthDateToMatchCitizenId(_PairRule):
    """The birth date (column A) equals the one encoded in a valid ID number (column B)."""

    map_metric = "column_pair_values.tierflow_birth_date_matches_citizen_id"
    sentence: ClassVar[str] = (
        "birth dates must match the birth date encoded in the citizen ID number."
    )


class ExpectColumnPairValuesGenderToMatchCitizenId(_PairRule):
    """The gender code (column A, 1/2) matches the parity of a valid ID number's 17th char."""

    map_metric = "column_pair_values.tierflow_gender_matches_citizen_id"
    sentence: ClassVar[str] = "gender codes must match the gender encoded in the citizen ID number."


class ExpectColumnPairValuesHolderIdToMatchKind(_PairRule):
    """Column A is a citizen ID when column B is 'person', a USCC when it is 'entity'."""

    map_metric = "column_pair_values.tierflow_holder_id_matches_kind"
    sentence: ClassVar[str] = (
        "values must be a citizen ID number for a person and a USCC for an entity."
    )


class ExpectColumnPairValuesToBeInCityBox(_PairRule):
    """(longitude, latitude) lies inside the Chongqing bounding box."""

    map_metric = "column_pair_values.tierflow_in_city_box"
    sentence: ClassVar[str] = "longitude/latitude must lie inside the Chongqing bounding box."


CUSTOM_EXPECTATIONS: dict[str, type] = {
    cls.expectation_type: cls
    for cls in (
        ExpectColumnValuesToBeValidCitizenId,
        ExpectColumnValuesToBeValidUscc,
        ExpectColumnValuesToBeKnownDivisionCode,
        ExpectColumnValuesToBeValidPolygonInCityBox,
        ExpectColumnValuesToNotBeInTheFuture,
        ExpectColumnPairValuesBirthDateToMatchCitizenId,
        ExpectColumnPairValuesGenderToMatchCitizenId,
        ExpectColumnPairValuesHolderIdToMatchKind,
        ExpectColumnPairValuesToBeInCityBox,
    )
}
