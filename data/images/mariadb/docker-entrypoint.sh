#!/bin/bash
# First start with an empty data directory: create the system tables, then let
# the server run the set-up SQL itself (--init-file) instead of starting twice.
set -e
DATADIR=/var/lib/mysql
if [ "$1" = "mariadbd" ]; then
    shift
    chown -R mysql:mysql "$DATADIR" /run/mysqld
    args=(--user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 --skip-name-resolve
          --innodb-buffer-pool-size=32M --innodb-log-file-size=16M)
    if [ ! -d "$DATADIR/mysql" ]; then
        echo "Initialising a new database in $DATADIR"
        mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
            --auth-root-authentication-method=socket > /dev/null
        init=/run/mysqld/init.sql
        {
            if [ -n "$MARIADB_ROOT_PASSWORD" ]; then
                echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';"
                echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
            fi
            if [ -n "$MARIADB_DATABASE" ]; then
                echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
            fi
            if [ -n "$MARIADB_USER" ]; then
                echo "CREATE USER IF NOT EXISTS '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';"
                [ -n "$MARIADB_DATABASE" ] && echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';"
            fi
        } > "$init"
        chown mysql:mysql "$init"
        args+=(--init-file="$init")
    fi
    exec mariadbd "${args[@]}" "$@"
fi
exec "$@"
