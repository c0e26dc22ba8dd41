# PostgreSQL clusters of our own: a throwaway one for the tests (sourced by scripts/test) and a kept, durable one for
# scripts/bench.
#
# `copslink_test_postgres` exports COPSLINK_TEST_POSTGRES_URL. If it is already set, that server is used as it is
# (each test makes and drops its own schema in that database). Otherwise it starts a throwaway cluster: installs
# PostgreSQL if missing, `initdb` into a temporary directory as an unprivileged user (postgres refuses to run as
# root), a free TCP port on 127.0.0.1, the Unix socket in that directory, and stops and deletes it when the calling
# script exits, whether it passed or failed. Takes a few seconds.
#
# `copslink_bench_postgres DIR` starts the cluster kept in DIR (made on first use) with PostgreSQL's durable defaults
# (fsync, synchronous_commit, full_page_writes all on, as SQLite's `synchronous = FULL` in the same run) and exports
# COPSLINK_BENCH_POSTGRES_URL (database `postgres`); it is stopped, not deleted, when the calling script exits.

copslink_postgres_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local candidate
  candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && echo "$candidate"
}

# copslink_start_postgres DIR KEEP [SERVER OPTIONS…]: initdb into DIR/data unless it holds a cluster, start it on a
# free loopback port, and stop it (and delete DIR unless KEEP is 1) when the calling script exits. Sets
# COPSLINK_PG_DIR, COPSLINK_PG_PORT, COPSLINK_PG_BINDIR and COPSLINK_PG_RUN (the command prefix that runs as the
# cluster's owner).
copslink_start_postgres() {
  local dir=$1 keep=$2
  shift 2
  local bindir
  bindir="$(copslink_postgres_bindir)"
  if [ -z "$bindir" ]; then
    echo "installing: postgresql"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bindir="$(copslink_postgres_bindir)"
    [ -n "$bindir" ] || { echo "error: PostgreSQL installed, but no initdb/pg_ctl found" >&2; return 1; }
  fi
  mkdir -p "$dir"
  COPSLINK_PG_DIR="$(cd "$dir" && pwd)"
  COPSLINK_PG_KEEP=$keep
  COPSLINK_PG_BINDIR="$bindir"
  COPSLINK_PG_PORT=""
  # As root, the cluster belongs to the `postgres` system user (created if missing, `nobody` if that fails).
  COPSLINK_PG_RUN=()
  if [ "$(id -u)" -eq 0 ]; then
    local owner=postgres
    id -u postgres >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres 2>/dev/null || owner=nobody
    chown "$owner" "$COPSLINK_PG_DIR"
    COPSLINK_PG_RUN=(runuser -u "$owner" --)
  fi
  chmod 700 "$COPSLINK_PG_DIR"
  trap copslink_stop_postgres EXIT
  trap 'copslink_stop_postgres; exit 130' INT TERM

  # Trust authentication: the cluster listens on loopback and on a socket in a directory only its owner can enter,
  # and holds nothing but test or benchmark data.
  if [ ! -f "$COPSLINK_PG_DIR/data/PG_VERSION" ]; then
    "${COPSLINK_PG_RUN[@]}" "$bindir/initdb" -D "$COPSLINK_PG_DIR/data" -U copslink --auth=trust -E UTF8 --locale=C \
      --no-sync --no-instructions >"$COPSLINK_PG_DIR/initdb.log" 2>&1 ||
      { cat "$COPSLINK_PG_DIR/initdb.log" >&2; return 1; }
  fi

  # A port that nothing listens on now; if another process takes it before postgres binds, try another.
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    if "${COPSLINK_PG_RUN[@]}" "$bindir/pg_ctl" -D "$COPSLINK_PG_DIR/data" -l "$COPSLINK_PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $COPSLINK_PG_DIR -c max_connections=400 $*" start >/dev/null; then
      COPSLINK_PG_PORT=$port
      break
    fi
  done
  if [ -z "$COPSLINK_PG_PORT" ]; then
    echo "error: PostgreSQL did not start:" >&2
    tail -n 20 "$COPSLINK_PG_DIR/server.log" >&2
    return 1
  fi
}

# psql as the cluster's superuser: copslink_psql DATABASE ARGS…
copslink_psql() {
  local database=$1
  shift
  "$COPSLINK_PG_BINDIR/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COPSLINK_PG_PORT" -U copslink -d "$database" "$@"
}

copslink_test_postgres() {
  if [ -n "${COPSLINK_TEST_POSTGRES_URL:-}" ]; then
    echo "== PostgreSQL for tests: the server in COPSLINK_TEST_POSTGRES_URL"
    return
  fi
  local started=$SECONDS
  # `fsync=off` and friends: nothing here needs to survive a crash of the machine, and syncing would make every test
  # write wait for the disk.
  copslink_start_postgres "$(mktemp -d /tmp/copslink-postgres.XXXXXX)" 0 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB || return 1
  copslink_psql postgres -c "CREATE DATABASE copslink_test" >/dev/null
  export COPSLINK_TEST_POSTGRES_URL="postgres://copslink@127.0.0.1:$COPSLINK_PG_PORT/copslink_test"
  echo "== PostgreSQL for tests: a throwaway cluster at 127.0.0.1:$COPSLINK_PG_PORT in $COPSLINK_PG_DIR (started in $((SECONDS - started)) s)"
}

copslink_bench_postgres() {
  copslink_start_postgres "$1" 1 -c shared_buffers=256MB || return 1
  export COPSLINK_BENCH_POSTGRES_URL="postgres://copslink@127.0.0.1:$COPSLINK_PG_PORT/postgres"
}

copslink_stop_postgres() {
  [ -n "${COPSLINK_PG_DIR:-}" ] || return 0
  if [ -f "$COPSLINK_PG_DIR/data/postmaster.pid" ]; then
    # A kept cluster stops cleanly (no recovery at its next start); a throwaway one at once.
    local mode=immediate
    [ "${COPSLINK_PG_KEEP:-0}" = 1 ] && mode=fast
    "${COPSLINK_PG_RUN[@]}" "$COPSLINK_PG_BINDIR/pg_ctl" -D "$COPSLINK_PG_DIR/data" -m "$mode" -w stop >/dev/null 2>&1 || true
  fi
  [ "${COPSLINK_PG_KEEP:-0}" = 1 ] || rm -rf "$COPSLINK_PG_DIR"
  COPSLINK_PG_DIR=""
}
