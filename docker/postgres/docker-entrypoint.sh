#!/bin/sh
# The voip-postgres image's entrypoint: the part of the public postgres image's contract that
# docker/compose.yaml uses. With `postgres ARGS...` as the command: on first start, initdb in
# PGDATA with the superuser POSTGRES_USER (password POSTGRES_PASSWORD, required), password
# (scram-sha-256) logins over TCP from anywhere and trusted logins over the local socket, then
# POSTGRES_DB created unless it is `postgres`; then the server runs as the `postgres` user.
# Any other command runs as given.
set -eu

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
# issue 17: a streaming replica of POSTGRES_PRIMARY_HOST (docker/multinode.yaml): on first start,
# a base backup of the primary (the superuser may replicate: see pg_hba below), then the server
# runs as a hot standby that follows it (standby.signal and primary_conninfo, from -R)
if [ -n "${POSTGRES_PRIMARY_HOST:-}" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    for _ in $(seq 1 60); do
        pg_isready -h "$POSTGRES_PRIMARY_HOST" -U "$user" -d postgres >/dev/null 2>&1 && break
        sleep 1
    done
    PGPASSWORD=${POSTGRES_PASSWORD:?} pg_basebackup -h "$POSTGRES_PRIMARY_HOST" -U "$user" \
        -D "$PGDATA" -R -X stream --checkpoint=fast
    chmod 0700 "$PGDATA"
    # the password in primary_conninfo comes from PGPASSWORD at backup time: -R writes it
    echo "docker-entrypoint: $PGDATA is a replica of $POSTGRES_PRIMARY_HOST"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "docker-entrypoint: POSTGRES_PASSWORD is required to initialise $PGDATA" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # streaming replicas (docker/multinode.yaml) connect as the superuser, with its password
    echo "host replication all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
        createdb -U "$user" "$db"
        pg_ctl -D "$PGDATA" -m fast -w stop
    fi
    echo "docker-entrypoint: $PGDATA initialised (superuser $user)"
fi

exec "$@"
