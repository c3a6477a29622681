# A `dotation serve` on loopback, for scripts that drive it with pyarrow: sourced by
# benches/peer/flight.sh (the client's tests start theirs in clients/python/tests/conftest.py).
#
# The sourcing script sets `bin` (the dotation binary) and `tmp` (a scratch folder, removed
# by the trap installed here), then calls:
#   local_server_config USER PASSWORD   writes $tmp/server.toml: one user, data in $tmp/data
#   start_server                        starts the server; sets server_pid and address
#   stop_server                         stops it (SIGTERM) and waits

server_pid=""
address=""

local_server_cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap local_server_cleanup EXIT

local_server_config() {
    local user="$1" password="$2" hash
    hash="$(printf '%s\n' "$password" | "$bin" serve --hash-password)"
    cat > "$tmp/server.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "data"
[[auth.users]]
name = "$user"
password_hash = "$hash"
TOML
}

start_server() {
    : > "$tmp/server.log"
    "$bin" serve --config "$tmp/server.toml" >> "$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        address="$(sed -n 's/.*listening on grpc:\/\/\([0-9.:]*\).*/\1/p' "$tmp/server.log")"
        if [ -n "$address" ]; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then cat "$tmp/server.log"; return 1; fi
        sleep 0.1
    done
    echo "the server did not start"; cat "$tmp/server.log"; return 1
}

stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_pid=""
}
