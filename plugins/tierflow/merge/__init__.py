"""Merge of the resource pools into the four foundational libraries (design §1 step 3, §9).

``tierflow.merge.run.merge_library(name)`` is the one entry point the CLI, the DAGs, the
bench and the tests call; the survivorship rules it applies are data, in
``schemas/survivorship/<library>.yaml`` (``tierflow.merge.survivorship``). Nothing is
imported here so that DAG files can read the rules without loading a database driver.
"""
