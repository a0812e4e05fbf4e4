#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL server from Debian's packages for the
# multi-worker tests: `.ci/postgres.sh start` prints the storage URL on its last line;
# `.ci/postgres.sh stop` stops it.
set -euo pipefail
ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
if [ -z "${ver}" ]; then
    apt-get install -y -q postgresql >/dev/null || { apt-get update -q && apt-get install -y -q postgresql >/dev/null; }
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
fi
case "${1:-start}" in
start)
    pg_lsclusters -h | awk '{print $2}' | grep -qx main || pg_createcluster "${ver}" main >/dev/null
    pg_ctlcluster "${ver}" main start 2>/dev/null || pg_ctlcluster "${ver}" main status >/dev/null
    for _ in $(seq 1 30); do
        su postgres -c "pg_isready -q" && break
        sleep 1
    done
    su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='sedse'\"" | grep -q 1 \
        || su postgres -c "psql -q -c \"CREATE ROLE sedse LOGIN PASSWORD 'sedse'\""
    su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='sedse_test'\"" | grep -q 1 \
        || su postgres -c "createdb -O sedse sedse_test"
    echo "postgresql+psycopg2://sedse:sedse@127.0.0.1:5432/sedse_test"
    ;;
stop)
    pg_ctlcluster "${ver}" main stop || true
    ;;
esac
