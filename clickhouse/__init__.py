"""DDL for the llmcost database, shipped inside the package as `otel_llmcost.ddl`.

Each .sql file is one statement template: {database} is the database name and {columns} the column list
rendered from otel_llmcost/store/schema.py. `otel-llmcost schema` prints them ready to run.
"""
