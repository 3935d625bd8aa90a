# test/lib.sh — shared by test/run, demo/run and bench/run: install prerequisites, build, install.

PG_MAJOR=${PG_MAJOR:-15}
# The PostgreSQL to build against, install into and run (PG_CONFIG=/path/to/pg_config picks another).
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}

# ensure_packages installs the Debian packages the build and the tests need, if any is missing.
ensure_packages() {
	local wanted=(make gcc libc6-dev postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-wal2json postgresql-$PG_MAJOR-cron libipc-run-perl perl sqlsmith "$@")
	local missing=()
	for p in "${wanted[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# build_and_install compiles the extension (warnings are errors) and installs it into PostgreSQL.
build_and_install() {
	make -C "$ROOT" -s clean >/dev/null 2>&1 || true
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null || { echo "build failed"; exit 1; }
	make -C "$ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "install failed"; exit 1; }
}

# start_cluster DIR PORT: initdb a throwaway cluster in DIR with test/pg.conf (as test/pg_conf gives it
# for this server) and start it as postgres.
start_cluster() {
	local dir=$1 port=$2 bindir
	bindir=$("$PG_CONFIG" --bindir)
	rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
	runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
	"$ROOT/test/pg_conf" "$bindir" >> "$dir/data/postgresql.conf" || { echo "test/pg_conf failed"; exit 1; }
	printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$port" "$dir" >> "$dir/data/postgresql.conf"
	runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

# stop_cluster DIR: stop the cluster in DIR and remove it.
stop_cluster() {
	local dir=$1
	runuser -u postgres -- "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
