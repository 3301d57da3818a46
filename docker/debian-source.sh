#!/usr/bin/env bash
# Fetch and unpack a Debian source package with `apt-get source`, enabling
# bookworm's deb-src entries first when apt has none.
#
# Usage: docker/debian-source.sh DESTDIR SOURCE[=VERSION]
#   SOURCE may also name a binary package (libfaketime -> source faketime).
#   Unpacks into DESTDIR/SRCNAME-UPSTREAM/ (dpkg-source's directory name) and
#   prints that directory's absolute path on its last line. A source that was
#   fully unpacked before (stamp DESTDIR/.unpacked-SOURCE: "VERSION DIR") is
#   reused: `found`.
#
# deb-src: if `apt-cache showsrc` does not know SOURCE (at VERSION), and no
# deb-src entry exists yet, /etc/apt/sources.list.d/mosquitto-matrix-deb-src.sources
# is written with the same mirror as the machine's `deb` entries (read from
# /etc/apt/sources.list, sources.list.d/*.list and *.sources, like
# build-debian-images.sh; MOSQUITTO_MATRIX_DEBIAN_MIRROR overrides it) for
# bookworm, bookworm-updates and, when a debian-security entry exists,
# bookworm-security; then apt-get update runs once.
# Also installs dpkg-dev (dpkg-source) when missing. Root only for those host changes
# (the apt source, apt-get update, apt-get install), each said first and the source file
# recorded for scripts/uninstall.sh; `apt-get source` itself runs as the invoking user.
# MOSQUITTO_MATRIX_DRY_RUN=1: say what would be done, do nothing.
set -euo pipefail

SUITE=${MOSQUITTO_MATRIX_SOURCE_SUITE:-bookworm}
SRC_LIST=${MOSQUITTO_MATRIX_DEB_SRC_LIST:-/etc/apt/sources.list.d/mosquitto-matrix-deb-src.sources}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "debian-source.sh: error: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: debian-source.sh DESTDIR SOURCE[=VERSION]"
dest=$1
spec=$2
pkg=${spec%%=*}
want_version=""
[ "$pkg" = "$spec" ] || want_version=${spec#*=}
case "$pkg" in *[!a-z0-9.+-]*|"") die "bad source package name: $pkg" ;; esac
. "$HERE/host.sh"
export DEBIAN_FRONTEND=noninteractive

# -------------------------------------------------------- apt source URIs ---
# URIs of enabled entries of TYPE (deb or deb-src), one per line.
. "$HERE/apt-sources.sh"

# first URI of a `deb` entry whose path ends in /SUFFIX (debian, debian-security)
find_uri() {
    local suffix=$1 uri
    while read -r uri; do
        uri=${uri%/}
        case "$uri" in
            http://*/"$suffix"|https://*/"$suffix"|file:/*/"$suffix") echo "$uri"; return 0 ;;
        esac
    done < <(apt_source_uris deb)
    return 1
}

# Is SOURCE (at VERSION, if given) known to apt as a source package?
# (showsrc also resolves binary package names to their source)
source_known() {
    local versions
    versions=$(apt-cache showsrc "$pkg" 2>/dev/null | awk '$1=="Version:"{print $2}')
    [ -n "$versions" ] || return 1
    [ -z "$want_version" ] || grep -qxF "$want_version" <<<"$versions"
}

ensure_deb_src() {
    source_known && return 0
    if [ -z "$(apt_source_uris deb-src)" ]; then
        local mirror security keyring=""
        if [ -n "${MOSQUITTO_MATRIX_DEBIAN_MIRROR:-}" ]; then
            mirror=$MOSQUITTO_MATRIX_DEBIAN_MIRROR
        else
            mirror=$(find_uri debian) || die "no Debian archive in /etc/apt/sources.list or /etc/apt/sources.list.d/ (need a 'deb URL suite' line or a deb822 'URIs:' entry whose path ends in /debian); set MOSQUITTO_MATRIX_DEBIAN_MIRROR to override"
        fi
        security=$(find_uri debian-security || true)
        [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
            keyring="Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
        {
            echo "# Written by mosquitto-matrix docker/debian-source.sh: source packages"
            echo "# (apt-get source) from the same mirror as the deb entries."
            echo "Types: deb-src"
            echo "URIs: $mirror"
            echo "Suites: $SUITE $SUITE-updates"
            echo "Components: main"
            [ -z "$keyring" ] || echo "$keyring"
            if [ -n "$security" ]; then
                echo
                echo "Types: deb-src"
                echo "URIs: $security"
                echo "Suites: $SUITE-security"
                echo "Components: main"
                [ -z "$keyring" ] || echo "$keyring"
            fi
        } >"$dest/deb-src.sources"
        host_as_root "writing $SRC_LIST" "apt knows no source package $spec and has no deb-src entry" \
            install -m 0644 "$dest/deb-src.sources" "$SRC_LIST" || die "could not write $SRC_LIST"
        rm -f "$dest/deb-src.sources"
        host_record apt-source "$SRC_LIST"
        echo "deb-src: added $SRC_LIST ($SUITE from the apt mirror)" >&2
    fi
    local log="$dest/apt-get-update.log"
    echo "deb-src: apt-get update" >&2
    host_need_root "apt-get update" "to read the deb-src indices" || die "apt-get update needs root"
    host_root apt-get update -q </dev/null >"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "apt-get update failed (log: $log)"
    }
    source_known || die "apt knows no source package $spec even after enabling deb-src (apt-cache showsrc $pkg lists: $(apt-cache showsrc "$pkg" 2>/dev/null | awk '$1=="Version:"{printf "%s ", $2}'))"
}

# ----------------------------------------------------------------- main ---
if host_dry_run; then
    if [ -f "$dest/.unpacked-$pkg" ]; then
        echo "source $pkg: found ($dest)" >&2
    else
        command -v dpkg-source >/dev/null 2>&1 || host_apt_install "dpkg-source unpacks Debian source packages" dpkg-dev
        source_known || host_would "write $SRC_LIST (deb-src for $SUITE from this machine's mirror) and apt-get update, as root; recorded for scripts/uninstall.sh"
        host_would "apt-get source $spec into $dest (as $(id -un))"
    fi
    exit 0
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# Already unpacked? (with a version, it must be the one recorded)
stamp="$dest/.unpacked-$pkg"
if [ -f "$stamp" ]; then
    read -r have have_dir <"$stamp" || true
    if [ -n "${have_dir:-}" ] && [ -d "$dest/$have_dir" ] &&
        { [ -z "$want_version" ] || [ "$have" = "$want_version" ]; }; then
        echo "source $pkg $have: found ($dest/$have_dir)" >&2
        echo "$dest/$have_dir"
        exit 0
    fi
fi

host_apt_install "dpkg-source unpacks Debian source packages" dpkg-dev || die "apt-get install dpkg-dev failed"
ensure_deb_src

log="$dest/apt-get-source-$pkg.log"
# Without a version, try every version apt knows, newest first (apt's own
# choice): a mirror may list a security update whose files it does not (yet)
# carry (seen: 404 for openssl's bookworm-security .dsc).
if [ -n "$want_version" ]; then
    tries=("$spec")
else
    versions=()
    while read -r v; do
        # insert v keeping versions[] sorted newest first (dpkg's ordering)
        i=0
        while [ "$i" -lt ${#versions[@]} ] && dpkg --compare-versions "${versions[$i]}" gt "$v"; do
            i=$((i + 1))
        done
        versions=("${versions[@]:0:$i}" "$v" "${versions[@]:$i}")
    done < <(apt-cache showsrc "$pkg" 2>/dev/null | awk '$1=="Version:"{print $2}' | sort -u)
    tries=()
    for v in "${versions[@]}"; do tries+=("$pkg=$v"); done
fi
ok=""
: >"$log"
for t in "${tries[@]}"; do
    echo "== apt-get source $t" >>"$log"
    # apt-get source as root warns that the download is unsandboxed; harmless.
    if ( cd "$dest" && apt-get source -q "$t" ) </dev/null >>"$log" 2>&1; then
        ok=$t
        break
    fi
    echo "apt-get source $t failed, $(grep -c '^E:' "$log") error line(s) so far (log: $log)" >&2
done
[ -n "$ok" ] || { tail -n 20 "$log" >&2; die "apt-get source $spec failed (log: $log)"; }
version=${ok#*=}

# "dpkg-source: info: extracting faketime in faketime-0.9.10"
dir=$(awk '/^dpkg-source: info: extracting/ {d=$NF} END {print d}' "$log")
[ -n "$dir" ] && [ -d "$dest/$dir" ] || { tail -n 20 "$log" >&2; die "apt-get source $spec: cannot tell which directory it unpacked (log: $log)"; }
echo "$version $dir" >"$stamp"
echo "source $pkg $version: unpacked into $dest/$dir" >&2
echo "$dest/$dir"
