#!/usr/bin/env bash
# A primary and two synchronous standbys on one machine, on loopback ports, in one directory:
# the set-up that services/server/tests/postgres.rs starts and fails over. For trying the
# PostgreSQL store, never for production (see patroni.yml and deploy/README.md).
#
#   deploy/postgres/three-nodes.sh start /var/tmp/klero-pg    # prints the klero --store URL
#   deploy/postgres/three-nodes.sh promote /var/tmp/klero-pg s1
#   deploy/postgres/three-nodes.sh stop /var/tmp/klero-pg
#
# PostgreSQL refuses to run as root: as root, the servers run as the postgres user.
set -euo pipefail
command=${1:?start, promote or stop}
root=${2:?a directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL's server is not installed: apt-get install postgresql" >&2; exit 1; }
as_postgres=()
[ "$(id -u)" = 0 ] && as_postgres=(runuser -u postgres --)
run() { "${as_postgres[@]}" "$bin/$1" "${@:2}"; }
ports=(55432 55433 55434)
names=(primary s1 s2)

case "$command" in
start)
    mkdir -p "$root"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$root"
    run initdb -D "$root/primary" -U klero --auth=trust --no-instructions -E UTF8 >/dev/null
    # Standbys stream through physical replication slots, so the primary keeps the WAL each one
    # still needs (a WAL switch and a checkpoint cannot leave one behind for good), up to
    # max_slot_wal_keep_size, so that a standby gone for good cannot fill the disk.
    run pg_ctl -D "$root/primary" -l "$root/primary.log" -w \
        -o "-p ${ports[0]} -c listen_addresses=127.0.0.1 -k $root -c max_slot_wal_keep_size=1GB" start >/dev/null
    run createdb -h 127.0.0.1 -p "${ports[0]}" -U klero klero
    for i in 1 2; do
        name=${names[$i]}
        run pg_basebackup -h 127.0.0.1 -p "${ports[0]}" -U klero -D "$root/$name" -R -X stream -c fast -C -S "$name"
        echo "primary_conninfo = 'host=127.0.0.1 port=${ports[0]} user=klero application_name=$name'" \
            | "${as_postgres[@]}" tee -a "$root/$name/postgresql.auto.conf" >/dev/null
        run pg_ctl -D "$root/$name" -l "$root/$name.log" -w \
            -o "-p ${ports[$i]} -c listen_addresses=127.0.0.1 -k $root" start >/dev/null
    done
    # A commit is acknowledged once one of the two standbys has it on disk.
    "${as_postgres[@]}" psql -q -h 127.0.0.1 -p "${ports[0]}" -U klero -d klero \
        -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (s1, s2)'" -c "SELECT pg_reload_conf()" >/dev/null
    echo "postgres://klero@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}/klero?target_session_attrs=read-write"
    ;;
promote)
    name=${3:?s1 or s2}
    run pg_ctl -D "$root/$name" -w promote
    ;;
stop)
    for name in "${names[@]}"; do
        [ -d "$root/$name" ] && run pg_ctl -D "$root/$name" -m fast stop >/dev/null 2>&1 || true
    done
    ;;
*)
    echo "unknown command $command: start, promote or stop" >&2
    exit 2
    ;;
esac
