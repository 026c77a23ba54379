"""Merge DAGs: one per foundational library, run when any pool feeding it gets a delivery."""

from __future__ import annotations

from airflow.sdk import dag, task

from tierflow.assets import (
    START_DATE,
    library_asset,
    merge_schedule,
    pool_asset,
)
from tierflow.contracts import catalog
from tierflow.merge.survivorship import load_rules
from tierflow.orchestration import default_args

DEFAULT_ARGS = default_args()
# Counts published on the library's asset event for the DAGs downstream (sink, aggregation).
EVENT_COUNTS = (
    "rows_in",
    "inserted",
    "updated",
    "unchanged",
    "library_rows",
    "conflicts",
    "orphans",
)


def build_merge_dag(library: str):
    cat = catalog()
    rules = load_rules(library)
    pools = [pool_asset(cat.dataset(dataset_id)) for dataset_id in rules.datasets]
    target = library_asset(library)

    @dag(
        dag_id=f"merge__{library}",
        description=f"pools {', '.join(rules.datasets)} → library {library}",
        # a run per delivery date any pool gets; it merges every delivery not merged yet
        schedule=merge_schedule(pools),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # merges of one library serialise anyway (advisory lock)
        default_args=DEFAULT_ARGS,
        tags=["merge", f"library:{library}"],
        doc_md=(
            f"### Merge into the {library} library\n\n"
            f"Runs when any of {', '.join(f'`{p.name}`' for p in pools)} gets a delivery, "
            "keyed by its delivery date. "
            f"Applies `schemas/survivorship/{library}.yaml` to the deliveries not merged yet "
            "(golden records, provenance, type-2 history, conflicts, orphan flags) in one "
            f"transaction and emits `library.{library}` with the insert/update/unchanged counts."
        ),
    )
    def merge_dag():
        @task(outlets=[target])
        def merge(*, outlet_events=None) -> dict:
            from tierflow.tasks import merge_library

            result = merge_library(library)
            outlet_events[target].extra = {name: result[name] for name in EVENT_COUNTS}
            return result

        merge()

    return merge_dag()


for _library in catalog().libraries:  # one per survivorship file
    globals()[f"merge__{_library}"] = build_merge_dag(_library)
