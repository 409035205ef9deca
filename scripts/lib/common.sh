# Shared helpers for scripts/*. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo when available).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

# apt-get install, running `apt-get update` once first.
APT_UPDATED=""
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing Debian packages: $* (this machine has no apt)"
    say "installing $*"
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 \
        || die "apt-get install $* failed"
}

# Installs Debian packages when a command is missing; `need_apt CMD PKG...`.
need_apt() {
    local cmd="$1"; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    apt_install "$@"
}

ensure_wasm_target() {
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        say "adding the wasm32-wasip2 Rust target"
        rustup target add wasm32-wasip2 >&2 || die "rustup target add wasm32-wasip2 failed"
    fi
}

# The component crates, one per directory under components/.
component_packages() {
    local dir
    for dir in components/*/; do
        [ -f "$dir/Cargo.toml" ] && basename "$dir"
    done
}

# Test fixtures: components only the tests run.
fixture_packages() {
    local dir
    for dir in tests/fixtures/*/; do
        [ -f "$dir/Cargo.toml" ] && basename "$dir"
    done
}

# devhost, optimised (see [profile.devhost] in Cargo.toml).
build_devhost() {
    say "building devhost"
    cargo build --profile devhost -p devhost
}
DEVHOST="$ROOT/target/devhost/devhost"

# The real `spin` CLI: SPIN_BIN, else `spin` on PATH; empty when neither.
find_spin() {
    if [ -n "${SPIN_BIN:-}" ]; then
        [ -x "$SPIN_BIN" ] || die "SPIN_BIN=$SPIN_BIN is not an executable"
        echo "$SPIN_BIN"
    else
        command -v spin 2>/dev/null || true
    fi
}

ensure_redis_server() {
    need_apt redis-server redis-server
}

redis_reachable() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Puts the SQLite file $1 (created if missing) in write-ahead-log mode, a
# property of the file that every later connection uses: Spin's local
# key-value store then commits (an atomic increment: a cached read's
# download count) with one sync instead of several.
sqlite_wal() {
    mkdir -p "$(dirname "$1")"
    python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL").fetchall()' "$1"
}

# Makes the Redis on 127.0.0.1:$1 announce string writes on its keyevent
# channels (notify-keyspace-events gains "E" and "$"), keeping its flags.
redis_keyevents() {
    python3 - "$1" <<'PY'
import socket, sys

def command(sock, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in map(str.encode, args))
    sock.sendall(out)
    return sock.recv(65536).decode()

with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as sock:
    reply = command(sock, "CONFIG", "GET", "notify-keyspace-events")
    lines = reply.split("\r\n")
    flags = lines[4] if len(lines) > 4 else ""
    wanted = flags + "".join(f for f in "E$" if f not in flags and not (f == "$" and "A" in flags))
    if wanted != flags:
        sys.exit(0 if command(sock, "CONFIG", "SET", "notify-keyspace-events", wanted).startswith("+OK") else 1)
PY
}

# Installs Debian packages that are not installed yet; `need_debian PKG...`.
need_debian() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
