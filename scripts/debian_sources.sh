#!/usr/bin/env bash
# Prints the machine's enabled Debian bookworm apt sources as one-line "deb URI SUITE COMPONENTS"
# entries, read from both formats apt takes: deb822 (*.sources) and one-line (sources.list,
# *.list). Entries signed by another keyring than Debian's are left out (a base image made by
# debootstrap has only Debian's keyring), as are disabled ones (Enabled: no, other file endings).
# scripts/container_check.sh makes its bookworm base from the first "bookworm" entry's mirror and
# gives the image these same sources, so no mirror host is written into the repository.
# Usage: scripts/debian_sources.sh [ROOT]   (ROOT: the file system whose /etc/apt is read; /)
set -euo pipefail
ROOT=${1:-}
files=()
[[ -f "$ROOT/etc/apt/sources.list" ]] && files+=("$ROOT/etc/apt/sources.list")
for f in "$ROOT"/etc/apt/sources.list.d/*.list "$ROOT"/etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] && files+=("$f")
done
for f in "${files[@]}"; do
  if [[ "$f" == *.sources ]]; then
    awk 'function flush() {
           if (types ~ /(^| )deb( |$)/ && enabled != "no" && (signed == "" || signed ~ /debian-archive-keyring/)) {
             n = split(uris, u, " "); m = split(suites, s, " ");
             for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
               if (s[j] ~ /^bookworm/) print "deb " u[i] " " s[j] " " comps;
           }
           types = uris = suites = comps = signed = enabled = "";
         }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         /^[ \t]/ { if (key == "signed-by") signed = signed " (inline key)"; next }  # continuation line
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "");
           if (key == "types") types = $0; else if (key == "uris") uris = $0;
           else if (key == "suites") suites = $0; else if (key == "components") comps = $0;
           else if (key == "signed-by") signed = $0; else if (key == "enabled") enabled = tolower($0) }
         END { flush() }' "$f"
  else
    awk '$1 == "deb" {
           opts = ""; i = 2;
           if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
           if (opts ~ /signed-by=/ && opts !~ /debian-archive-keyring/) next;
           if ($(i + 1) !~ /^bookworm/) next;
           line = "deb " $i " " $(i + 1); for (k = i + 2; k <= NF; k++) line = line " " $k; print line
         }' "$f"
  fi
done
