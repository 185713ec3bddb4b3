#!/usr/bin/env bash
# System services the test suite needs, from Debian's packages: chromium (browser tests),
# PostgreSQL (the suite also runs against it), Redis (WebSocket fan-out across processes) and
# poppler-utils (pdftotext/pdftoppm read the console's PDFs back).
# Installs only what is missing and starts the servers on loopback. Used by `make test`.
set -euo pipefail

PG_ROLE=${VERTROUWD_TEST_PG_ROLE:-vertrouwd}
PG_PASSWORD=${VERTROUWD_TEST_PG_PASSWORD:-vertrouwd-test}
REDIS_PORT=${VERTROUWD_TEST_REDIS_PORT:-6379}

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pg_lsclusters >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)  # console PDFs are checked

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "system-deps: need root for: $*" >&2; return 1; fi
}

if [ ${#need[@]} -gt 0 ]; then
  echo "system-deps: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL: start the packaged cluster if it is down; a role that may create test databases.
cluster=$(pg_lsclusters -h 2>/dev/null | head -n 1 || true)
if [ -z "$cluster" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  as_root pg_createcluster "$ver" main >/dev/null
  cluster=$(pg_lsclusters -h | head -n 1)
fi
read -r pg_ver pg_name pg_port pg_status _ <<<"$cluster"
if [ "$pg_status" != "online" ]; then
  as_root pg_ctlcluster "$pg_ver" "$pg_name" start
fi
as_root runuser -u postgres -- psql -q -p "$pg_port" -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_ROLE}') THEN
    CREATE ROLE ${PG_ROLE} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}';
  END IF;
END \$\$;
-- DROP DATABASE ... WITH (FORCE) after a test may meet an autovacuum worker on that database.
GRANT pg_signal_backend TO ${PG_ROLE};
-- The erasure proofs (issue 18) find the data directory and force a checkpoint before reading
-- the test database's files and WAL segments raw.
GRANT pg_read_all_settings, pg_checkpoint TO ${PG_ROLE};
SQL

# Redis on loopback only, no persistence (tests only).
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
    --appendonly no --protected-mode yes >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "system-deps: chromium, PostgreSQL ${pg_ver} on port ${pg_port}, Redis on ${REDIS_PORT} ready"
