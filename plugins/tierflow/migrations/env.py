"""Alembic environment: runs on the connection tierflow hands it (see tierflow.migrate).

tierflow's history has its own version table, apart from Airflow's ``alembic_version``.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=context.config.attributes["version_table"],
    version_table_schema="public",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
