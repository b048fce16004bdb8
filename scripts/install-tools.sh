#!/usr/bin/env bash
# Installs the pinned kind, kubectl and helm that devcluster's kind path uses into ~/.local/bin
# (or $BIN_DIR), verifying each download against the checksum its project publishes.
# Skips a tool that is already present at the pinned version. Needs curl and Docker (for kind).
# Offline: put the files (same names as in the URLs, with their checksum files) into a directory and
# run with TOOLS_DIR=that-directory; they are verified the same way.
set -euo pipefail

KIND_VERSION="${KIND_VERSION:-v0.29.0}"
KUBECTL_VERSION="${KUBECTL_VERSION:-v1.30.14}"
HELM_VERSION="${HELM_VERSION:-v3.17.3}"
BIN_DIR="${BIN_DIR:-$HOME/.local/bin}"
TOOLS_DIR="${TOOLS_DIR:-}"

case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
OS="$(uname -s | tr '[:upper:]' '[:lower:]')"
mkdir -p "$BIN_DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# fetch TOOL URL DEST: a local copy from TOOLS_DIR, else curl; a failure names the tool, the URL and the way out.
fetch() {
  local name
  name="$(basename "$2")"
  if [ -n "$TOOLS_DIR" ] && [ -f "$TOOLS_DIR/$name" ]; then
    cp "$TOOLS_DIR/$name" "$3"
    return
  fi
  if ! curl -fsSLo "$3" "$2"; then
    echo "install-tools: cannot download $1 ($name) from $2" >&2
    echo "install-tools: offline? download it (and its checksum file) on a connected machine, put both in a" \
      "directory and re-run with TOOLS_DIR=that-directory bash scripts/install-tools.sh" >&2
    exit 1
  fi
}

verify() { # file expected-sha256
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then echo "checksum mismatch for $1: expected $2, got $got" >&2; exit 1; fi
}

if ! "$BIN_DIR/kind" version 2>/dev/null | grep -q "$KIND_VERSION"; then
  url="https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-${OS}-${ARCH}"
  fetch kind "$url" "$tmp/kind"
  fetch kind "${url}.sha256sum" "$tmp/kind.sha256sum"
  verify "$tmp/kind" "$(cut -d' ' -f1 "$tmp/kind.sha256sum")"
  install -m 0755 "$tmp/kind" "$BIN_DIR/kind"
fi

if ! "$BIN_DIR/kubectl" version --client 2>/dev/null | grep -q "$KUBECTL_VERSION"; then
  url="https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/${OS}/${ARCH}/kubectl"
  fetch kubectl "$url" "$tmp/kubectl"
  fetch kubectl "${url}.sha256" "$tmp/kubectl.sha256"
  verify "$tmp/kubectl" "$(cut -d' ' -f1 "$tmp/kubectl.sha256")"
  install -m 0755 "$tmp/kubectl" "$BIN_DIR/kubectl"
fi

if ! "$BIN_DIR/helm" version --short 2>/dev/null | grep -q "$HELM_VERSION"; then
  tarball="helm-${HELM_VERSION}-${OS}-${ARCH}.tar.gz"
  fetch helm "https://get.helm.sh/${tarball}" "$tmp/$tarball"
  fetch helm "https://get.helm.sh/${tarball}.sha256sum" "$tmp/$tarball.sha256sum"
  verify "$tmp/$tarball" "$(cut -d' ' -f1 "$tmp/$tarball.sha256sum")"
  tar -xzf "$tmp/$tarball" -C "$tmp"
  install -m 0755 "$tmp/${OS}-${ARCH}/helm" "$BIN_DIR/helm"
fi

echo "installed into $BIN_DIR: kind $KIND_VERSION, kubectl $KUBECTL_VERSION, helm $HELM_VERSION"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "add $BIN_DIR to your PATH" ;; esac
