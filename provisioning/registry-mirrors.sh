#!/usr/bin/env bash
# Point this kubeadm node's containerd at devcluster's local registry and pull-through caches, before
# kubeadm pulls anything. Vagrant runs it on every kubeadm node after common.sh (which installed containerd
# and wrote /etc/containerd/config.toml with `containerd config default`) and before control-plane-init.sh.
#
# Input: a directory Vagrant's file provisioner uploaded, one <registry>/hosts.toml per registry (devcluster
#   renders them: the cache on the host-only address first, the upstream itself as `server`, so a cache that
#   is down or not reachable yet costs a fallback, never a failed pull). It is removed afterwards: a file
#   provisioner uploading a directory onto an existing one nests it, and the next upload must find none.
# Environment:
#   HOSTS_SOURCE  the uploaded directory (default /tmp/devcluster-registry-hosts)
#   NODE_ROOT     optional, default empty: prefix for every path read or written (tests point it at a
#                 scratch directory; config_path keeps the node's real /etc/containerd/certs.d)
# What it does: installs the files under /etc/containerd/certs.d, replacing devcluster's own files there
#   (first line "# written by devcluster"; a registry no longer configured loses its file) and leaving
#   anybody else's alone; sets config_path = "/etc/containerd/certs.d" in the CRI plugin's registry table
#   (containerd 1.6/1.7 `config default` writes config_path = "" there); restarts containerd only when
#   something changed. Safe to re-run: an unchanged node is left alone. Exit 2: bad input (nothing written).
set -euo pipefail

umask 022

me="registry-mirrors.sh"
die() {
  local code="$1"
  shift
  echo "${me}: $*" >&2
  exit "$code"
}

HOSTS_SOURCE="${HOSTS_SOURCE:-/tmp/devcluster-registry-hosts}"
NODE_ROOT="${NODE_ROOT:-}"
if [ -n "$NODE_ROOT" ]; then
  [[ "$NODE_ROOT" == /* ]] || die 2 "NODE_ROOT must be an absolute path"
  NODE_ROOT="${NODE_ROOT%/}"
fi
certs_dir=/etc/containerd/certs.d # what containerd reads: the node's path, never prefixed
certs="${NODE_ROOT}${certs_dir}"
config="${NODE_ROOT}/etc/containerd/config.toml"
marker="# written by devcluster"
registry_table='[plugins."io.containerd.grpc.v1.cri".registry]'
# A hosts.toml devcluster wrote: its first line starts with the marker (anybody else's is left alone).
written_by_devcluster() {
  [ "$(head -n 1 "$1" | cut -c1-${#marker})" = "$marker" ]
}

[ -d "$HOSTS_SOURCE" ] || die 2 "${HOSTS_SOURCE} is not a directory (the Vagrantfile uploads it first)"
trap 'rm -rf -- "$HOSTS_SOURCE"' EXIT
source_dir="$HOSTS_SOURCE"
# Uploaded onto a leftover directory, Vagrant put it one level down (under the source's own name).
if [ -d "${HOSTS_SOURCE}/registry-hosts" ]; then
  source_dir="${HOSTS_SOURCE}/registry-hosts"
fi
[ -s "$config" ] || die 1 "${config} is missing or empty: common.sh installs containerd and writes it first"

names=()
for file in "$source_dir"/*/hosts.toml; do
  [ -f "$file" ] || continue
  name="$(basename "$(dirname "$file")")"
  [[ "$name" =~ ^[A-Za-z0-9._:-]+$ ]] || die 2 "not a registry name: '${name}'"
  written_by_devcluster "$file" ||
    die 2 "${name}/hosts.toml was not written by devcluster (its first line must start with '${marker}')"
  names+=("$name")
done

changed=0
for name in "${names[@]}"; do
  dest="${certs}/${name}/hosts.toml"
  if ! cmp -s "${source_dir}/${name}/hosts.toml" "$dest"; then
    mkdir -p "${certs}/${name}"
    install -m 0644 "${source_dir}/${name}/hosts.toml" "$dest"
    changed=1
    echo "${me}: installed ${certs_dir}/${name}/hosts.toml"
  fi
done

# devcluster's files for registries no longer configured; anybody else's stay.
for file in "$certs"/*/hosts.toml; do
  [ -f "$file" ] || continue
  name="$(basename "$(dirname "$file")")"
  wanted=0
  for kept in "${names[@]}"; do
    if [ "$kept" = "$name" ]; then wanted=1; fi
  done
  if [ "$wanted" = 0 ] && written_by_devcluster "$file"; then
    rm -f -- "$file"
    rmdir --ignore-fail-on-non-empty -- "${certs}/${name}"
    changed=1
    echo "${me}: removed ${certs_dir}/${name}/hosts.toml (no longer configured)"
  fi
done

# config_path in the CRI plugin's registry table: replaced where it is, added to the table when the table
# lacks it, the table appended when the file has none. Anything else in the file is kept as it is.
tmp_config="$(mktemp "${config}.XXXXXX")"
trap 'rm -rf -- "$HOSTS_SOURCE" "$tmp_config"' EXIT
awk -v table="$registry_table" -v want="config_path = \"${certs_dir}\"" '
  function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
  /^[ \t]*\[/ {
    if (inside && !done) { print "  " want; done = 1 }
    inside = (trim($0) == table)
    if (inside) { seen = 1 }
    print
    next
  }
  inside && /^[ \t]*config_path[ \t]*=/ {
    if (!done) { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) want; done = 1 }
    next
  }
  { print }
  END {
    if (inside && !done) { print "  " want }
    if (!seen) { print ""; print table; print "  " want }
  }
' "$config" >"$tmp_config"
if cmp -s "$tmp_config" "$config"; then
  rm -f -- "$tmp_config"
else
  chmod --reference="$config" "$tmp_config"
  mv -f -- "$tmp_config" "$config"
  changed=1
  echo "${me}: set config_path = \"${certs_dir}\" in /etc/containerd/config.toml"
fi

if [ "$changed" = 1 ]; then
  systemctl restart containerd
  echo "${me}: restarted containerd"
else
  echo "${me}: containerd already uses ${certs_dir} with these files"
fi
