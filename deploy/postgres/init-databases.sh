#!/bin/sh
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d), as
# POSTGRES_USER: one database and one owner per consumer, so that Superset's credentials cannot
# read Dagster's storage and the other way round. Passwords from the environment (.env).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v dagster_db="$DAGSTER_PG_DB" -v dagster_user="$DAGSTER_PG_USER" \
  -v dagster_password="$DAGSTER_PG_PASSWORD" \
  -v superset_db="$SUPERSET_PG_DB" -v superset_user="$SUPERSET_PG_USER" \
  -v superset_password="$SUPERSET_PG_PASSWORD" <<'SQL'
create role :"dagster_user" login password :'dagster_password';
create database :"dagster_db" owner :"dagster_user";
revoke all on database :"dagster_db" from public;
create role :"superset_user" login password :'superset_password';
create database :"superset_db" owner :"superset_user";
revoke all on database :"superset_db" from public;
SQL
