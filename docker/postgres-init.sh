#!/bin/sh
# Postgres's first start (docker-entrypoint-initdb.d, a new volume): one role and one database
# each for Airflow's and Superset's metadata, from the names and passwords in .env.
# tests/test_scaleout.py runs this same script against its own server.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_user="$AIRFLOW_DB_USER" -v airflow_password="$AIRFLOW_DB_PASSWORD" \
  -v airflow_db="$AIRFLOW_DB_NAME" \
  -v superset_user="$SUPERSET_DB_USER" -v superset_password="$SUPERSET_DB_PASSWORD" \
  -v superset_db="$SUPERSET_DB_NAME" <<'SQL'
CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_user" ENCODING 'UTF8';
CREATE ROLE :"superset_user" LOGIN PASSWORD :'superset_password';
CREATE DATABASE :"superset_db" OWNER :"superset_user" ENCODING 'UTF8';
SQL
