#!/usr/bin/env bash
# Install the pinned k3s binary on this node and run it as a server or an agent under systemd.
# Usage: k3s-install.sh server|agent    (as root; devcluster uploads it and runs it over SSH)
#
# stdin: one line TOKEN=<value>, the cluster's join token. It arrives on stdin (never argv, where any
#   user could read it in ps) and lands only in a 0600 token file k3s reads with --token-file.
#   Optionally REGISTRIES_YAML_B64=<base64 of /etc/rancher/k3s/registries.yaml>: devcluster's local registry
#   and pull-through caches, in place before k3s starts (k3s reads the file only when it starts). Without
#   the line an existing registries.yaml is left alone.
# Environment:
#   NODE_IP     this node's eth1 address (node IP, flannel interface and, on servers, advertise address)
#   K3S_BINARY  where devcluster uploaded the pinned k3s binary
#   K3S_SHA256  its pinned sha256: the upload is verified here too, so a corrupted or swapped file never runs
#   SERVER_URL  must be set: empty on the first server (it initialises embedded etcd with --cluster-init),
#               https://<first server ip>:6443 for joining servers and agents. Required even when empty so
#               that forgetting it cannot silently turn a joining server into a second, separate cluster.
#   TLS_SANS    servers only: comma-separated server IPs and the API endpoint name, one --tls-san each
#   K3S_ROOT    optional, default empty: prefix for every path written (tests point it at a scratch
#               directory; the unit's ExecStart keeps the VM's real paths)
# Safe to re-run: when binary, token, registries.yaml and unit are unchanged and the unit is active, nothing is touched;
# when any of them changed, the unit is restarted. A failure once the node is being configured disables
# the unit and removes the unit file and token, so the node is never left half-joined and a retry
# starts clean. Exit 2: bad usage or input (nothing written); otherwise non-zero names the failed step.
set -euo pipefail

umask 022 # directories 0755, binary 0755, unit 0644; the token is created under umask 077 below

me="k3s-install.sh"
die() {
  local code="$1"
  shift
  echo "${me}: $*" >&2
  exit "$code"
}

role="${1:-}"
case "$role" in
  server) unit="k3s" ;;
  agent) unit="k3s-agent" ;;
  *) die 2 "usage: ${me} server|agent (token as TOKEN=<value> on stdin)" ;;
esac

for required in NODE_IP K3S_BINARY K3S_SHA256; do
  [ -n "${!required:-}" ] || die 2 "${required} is required in the environment"
done
if [ -z "${SERVER_URL+set}" ]; then
  die 2 "SERVER_URL must be set (empty only on the first server, which runs --cluster-init)"
fi
TLS_SANS="${TLS_SANS:-}"
K3S_ROOT="${K3S_ROOT:-}"

# Every value below ends up verbatim in the unit's ExecStart: allow only characters that need no quoting
# there (no spaces, quotes, `%` specifiers or `$` expansions).
plain_re='^[][A-Za-z0-9._:/-]+$'
plain() {
  [[ "$2" =~ $plain_re ]] || die 2 "$1 has characters that do not belong on a k3s command line: '$2'"
}
plain NODE_IP "$NODE_IP"
if [ -n "$SERVER_URL" ]; then
  [[ "$SERVER_URL" =~ ^https://[^/]+$ ]] || die 2 "SERVER_URL must look like https://<first server ip>:6443"
  plain SERVER_URL "$SERVER_URL"
elif [ "$role" = agent ]; then
  die 2 "SERVER_URL is required for an agent (https://<first server ip>:6443)"
fi
san_flags=()
if [ "$role" = server ]; then
  IFS=',' read -r -a sans <<<"$TLS_SANS"
  for san in "${sans[@]}"; do
    [ -n "$san" ] || continue
    plain "TLS_SANS entry" "$san"
    san_flags+=("--tls-san=${san}")
  done
  [ "${#san_flags[@]}" -gt 0 ] || die 2 "TLS_SANS is required for a server (every server IP and the API name)"
fi
if [ -n "$K3S_ROOT" ]; then
  [[ "$K3S_ROOT" == /* ]] || die 2 "K3S_ROOT must be an absolute path"
  K3S_ROOT="${K3S_ROOT%/}"
fi

# The token: KEY=VALUE lines on stdin, as join.sh reads its credentials. A terminal is refused rather
# than waited on. The last line is read even without a trailing newline.
TOKEN=""
REGISTRIES_YAML_B64=""
if [ -t 0 ]; then
  die 2 "the token is read from stdin (TOKEN=<value>), not from a terminal"
fi
# Whole lines, split at the first '=' by hand: `IFS='=' read key value` drops a single trailing '=' of the
# value (base64 padding).
while IFS= read -r line || [ -n "$line" ]; do
  key="${line%%=*}"
  value="${line#*=}"
  case "$key" in
    TOKEN) TOKEN="$value" ;;
    REGISTRIES_YAML_B64) REGISTRIES_YAML_B64="$value" ;;
    "") ;;
    *) echo "${me}: ignoring unknown key ${key}" >&2 ;;
  esac
done
[ -n "$TOKEN" ] || die 2 "TOKEN=<value> is required on stdin; refusing to run without the cluster token"
registries=""
if [ -n "$REGISTRIES_YAML_B64" ]; then
  # a trailing newline is part of the file: keep it through the command substitution with a sentinel
  registries="$(base64 -d <<<"$REGISTRIES_YAML_B64" && echo x)" || die 2 "REGISTRIES_YAML_B64 is not base64"
  registries="${registries%x}"
fi

# flannel is pinned to eth1 and k3s binds to NODE_IP: if they disagree, pod traffic takes the wrong (NAT)
# interface. Catch that here instead of in a half-working cluster.
eth1_ips="$(ip -4 -o addr show dev eth1 2>/dev/null | awk '{print $4}' | cut -d/ -f1)" || eth1_ips=""
if ! grep -qxF -- "$NODE_IP" <<<"$eth1_ips"; then
  eth1_ips="${eth1_ips//$'\n'/ }"
  die 2 "NODE_IP ${NODE_IP} is not an address of eth1 (eth1 has: ${eth1_ips:-none})"
fi

# The uploaded binary must be the pinned one before anything is written.
expected="${K3S_SHA256,,}"
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die 2 "K3S_SHA256 is not a sha256 (64 hex digits)"
[ -f "$K3S_BINARY" ] || die 2 "K3S_BINARY ${K3S_BINARY} is not a file (was the k3s binary uploaded?)"
sha256_of() {
  local sum
  sum="$(sha256sum <"$1")"
  echo "${sum%% *}"
}
actual="$(sha256_of "$K3S_BINARY")"
if [ "$actual" != "$expected" ]; then
  die 1 "checksum mismatch for ${K3S_BINARY}: expected sha256 ${expected}, got ${actual}; refusing to install it"
fi

bin_dst="${K3S_ROOT}/usr/local/bin/k3s"
token_file="${K3S_ROOT}/etc/rancher/k3s/token"
registries_file="${K3S_ROOT}/etc/rancher/k3s/registries.yaml"
unit_file="${K3S_ROOT}/etc/systemd/system/${unit}.service"

# From here on, a failure names its step. Once `armed`, it also undoes the unit and token (never
# half-joined). Temporary files are hidden names in the target directory, so each replacement is an
# atomic rename and systemd never loads a partial unit.
step=""
armed=0
tmp_bin=""
tmp_token=""
tmp_unit=""
on_exit() {
  local status=$?
  set +e
  rm -f -- ${tmp_bin:+"$tmp_bin"} ${tmp_token:+"$tmp_token"} ${tmp_unit:+"$tmp_unit"}
  if [ "$status" -ne 0 ] && [ -n "$step" ]; then
    echo "${me}: k3s ${role}: ${step} failed (exit ${status})" >&2
    if [ "$armed" = 1 ]; then
      echo "${me}: disabling ${unit} and removing its unit file and token so a retry starts clean" >&2
      systemctl disable --now "${unit}" >&2 || echo "${me}: could not disable ${unit}" >&2
      rm -f -- "$unit_file" "$token_file"
      systemctl daemon-reload >&2 || true
    fi
  fi
  exit "$status"
}
trap on_exit EXIT

changed=0

step="installing the k3s binary"
mkdir -p "${bin_dst%/*}"
if [ ! -f "$bin_dst" ] || [ "$(sha256_of "$bin_dst")" != "$expected" ]; then
  tmp_bin="$(mktemp "${bin_dst%/*}/.k3s.XXXXXX")"
  install -m 0755 "$K3S_BINARY" "$tmp_bin"
  # Verify the copy that will run, not only the upload it was made from.
  copied="$(sha256_of "$tmp_bin")"
  [ "$copied" = "$expected" ] || die 1 "the installed copy has sha256 ${copied}, expected ${expected}"
  mv -f "$tmp_bin" "$bin_dst"
  tmp_bin=""
  changed=1
  echo "k3s ${role}: installed ${bin_dst} (sha256 ${expected})"
fi
chmod 0755 "$bin_dst"

armed=1

step="writing the token file"
mkdir -p "${token_file%/*}"
if [ ! -f "$token_file" ] || ! printf '%s\n' "$TOKEN" | cmp -s - "$token_file"; then
  # umask 077 and mktemp: the file is 0600 from the moment it exists, never world-readable.
  umask 077
  tmp_token="$(mktemp "${token_file%/*}/.token.XXXXXX")"
  printf '%s\n' "$TOKEN" >"$tmp_token" # printf is a builtin: the token is on no command line
  mv -f "$tmp_token" "$token_file"
  tmp_token=""
  umask 022
  changed=1
  echo "k3s ${role}: wrote ${token_file} (0600)"
fi
chmod 0600 "$token_file"

if [ -n "$registries" ]; then
  step="writing registries.yaml"
  if [ ! -f "$registries_file" ] || ! printf '%s' "$registries" | cmp -s - "$registries_file"; then
    printf '%s' "$registries" >"${registries_file}.tmp"
    chmod 0644 "${registries_file}.tmp"
    mv -f "${registries_file}.tmp" "$registries_file"
    changed=1
    echo "k3s ${role}: wrote ${registries_file} (the local registry and caches)"
  fi
fi

step="writing ${unit}.service"
k3s_args=("$role" "--node-ip=${NODE_IP}")
if [ "$role" = server ]; then
  k3s_args+=("--advertise-address=${NODE_IP}" "--flannel-iface=eth1" "${san_flags[@]}"
    "--token-file=/etc/rancher/k3s/token" "--write-kubeconfig-mode=0600"
    # devcluster installs its own pinned Traefik on NodePorts 30080/30443 on both distributions.
    "--disable=traefik")
  if [ -z "$SERVER_URL" ]; then
    k3s_args+=("--cluster-init") # the first server starts the embedded etcd cluster
  else
    k3s_args+=("--server=${SERVER_URL}") # the others join it
  fi
  # notify: `systemctl start` returns once the API server is up (or fails if k3s exits first).
  service_type="notify"
else
  k3s_args+=("--flannel-iface=eth1" "--server=${SERVER_URL}" "--token-file=/etc/rancher/k3s/token")
  service_type="exec"
fi
render_unit() {
  cat <<UNIT
# Written by devcluster's provisioning/k3s-install.sh; re-running it rewrites this file.
[Unit]
Description=Lightweight Kubernetes (k3s ${role})
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=${service_type}
# Restarting k3s must not kill the pods' containers: only the k3s process is stopped.
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
# Bounded, so a server that cannot join fails devcluster's step (and is undone) instead of hanging it.
TimeoutStartSec=600
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
UNIT
  printf 'ExecStart=/usr/local/bin/k3s'
  local arg
  for arg in "${k3s_args[@]}"; do
    printf ' \\\n    %s' "$arg"
  done
  printf '\n'
}
mkdir -p "${unit_file%/*}"
tmp_unit="$(mktemp "${unit_file%/*}/.${unit}.service.XXXXXX")"
render_unit >"$tmp_unit"
chmod 0644 "$tmp_unit"
if [ -f "$unit_file" ] && cmp -s "$tmp_unit" "$unit_file"; then
  rm -f "$tmp_unit"
else
  mv -f "$tmp_unit" "$unit_file"
  changed=1
  echo "k3s ${role}: wrote ${unit_file}"
fi
tmp_unit=""

if [ "$changed" = 0 ] && systemctl is-active --quiet "$unit"; then
  echo "k3s ${role} already configured"
  exit 0
fi

step="systemctl daemon-reload"
systemctl daemon-reload
if systemctl is-active --quiet "$unit"; then
  # Running with an older binary, token or unit: restart so the change takes effect.
  step="systemctl enable ${unit}"
  systemctl enable "$unit"
  step="systemctl restart ${unit}"
  systemctl restart "$unit"
  echo "k3s ${role}: restarted ${unit}"
else
  step="systemctl enable --now ${unit}"
  systemctl enable --now "$unit"
  echo "k3s ${role}: started ${unit}"
fi
