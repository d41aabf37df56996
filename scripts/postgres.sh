# Sourced by scripts/test: makes sure a PostgreSQL server answers on 127.0.0.1:5432 and exports
# SCAFFOLDER_TEST_DATABASE_URL for it. On a fresh Debian machine it installs the `postgresql`
# package with apt-get, starts the cluster, and sets a password when only password logins work.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "scripts/test: need root (or sudo) to run: $*" >&2; return 1
  fi
}

ensure_postgres() {
  local url="${SCAFFOLDER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
    echo "scripts/test: installing PostgreSQL (apt-get)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "scripts/test: starting PostgreSQL" >&2
    local version
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    if [ ! -d "/etc/postgresql/$version/main" ]; then
      as_root pg_createcluster "$version" main
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 0.5
    done
    pg_isready -h 127.0.0.1 -p 5432 || { echo "scripts/test: PostgreSQL did not start" >&2; return 1; }
  fi
  if ! psql "$url" -Atqc 'select 1' >/dev/null 2>&1; then
    # A stock Debian cluster only lets `postgres` in over TCP with a password: give it one.
    as_root runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    url="postgres://postgres:postgres@127.0.0.1:5432/postgres"
    psql "$url" -Atqc 'select 1' >/dev/null || { echo "scripts/test: cannot log in to PostgreSQL at $url" >&2; return 1; }
  fi
  export SCAFFOLDER_TEST_DATABASE_URL="$url"
}
