# Sourced by the docker/ scripts that need the host's Debian mirror, so no host name is
# ever committed: apt_source_uris TYPE prints the URIs of the enabled entries of TYPE
# (deb or deb-src; deb when omitted), one per line, in apt's file order, from both the
# one-line format (sources.list, *.list) and deb822 (*.sources).
apt_source_uris() {
    local type=${1:-deb} f
    local oneline='$1==t { i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ } if (i<=NF) print $i }'
    if [ -f /etc/apt/sources.list ]; then
        sed -e 's/#.*//' /etc/apt/sources.list | awk -v t="$type" "$oneline"
    fi
    for f in /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' "$f" | awk -v t="$type" "$oneline"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: stanzas separated by blank lines; the URIs of stanzas whose Types include
        # TYPE and that are not Enabled: no.
        awk -v t="$type" '
            function flush() { if (istype && enabled) for (k=1; k<=n; k++) print u[k]; istype=0; enabled=1; n=0 }
            BEGIN { enabled=1 }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1)=="types:"   { for (k=2; k<=NF; k++) if ($k==t) istype=1 }
            tolower($1)=="enabled:" { if (tolower($2)=="no") enabled=0 }
            tolower($1)=="uris:"    { for (k=2; k<=NF; k++) u[++n]=$k }
            END { flush() }
        ' "$f"
    done
}
