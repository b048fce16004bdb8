#!/usr/bin/env bash
# Installs the pinned kind, kubectl and helm that devcluster's kind path uses into ~/.local/bin
# (or $BIN_DIR), verifying each download against the checksum its project publishes.
# Skips a tool that is already present at the pinned version. Needs curl and Docker (for kind).
set -euo pipefail

KIND_VERSION="${KIND_VERSION:-v0.29.0}"
KUBECTL_VERSION="${KUBECTL_VERSION:-v1.30.14}"
HELM_VERSION="${HELM_VERSION:-v3.17.3}"
BIN_DIR="${BIN_DIR:-$HOME/.local/bin}"

case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
OS="$(uname -s | tr '[:upper:]' '[:lower:]')"
mkdir -p "$BIN_DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

verify() { # file expected-sha256
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then echo "checksum mismatch for $1" >&2; exit 1; fi
}

if ! "$BIN_DIR/kind" version 2>/dev/null | grep -q "$KIND_VERSION"; then
  url="https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-${OS}-${ARCH}"
  curl -fsSLo "$tmp/kind" "$url"
  verify "$tmp/kind" "$(curl -fsSL "${url}.sha256sum" | cut -d' ' -f1)"
  install -m 0755 "$tmp/kind" "$BIN_DIR/kind"
fi

if ! "$BIN_DIR/kubectl" version --client 2>/dev/null | grep -q "$KUBECTL_VERSION"; then
  url="https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/${OS}/${ARCH}/kubectl"
  curl -fsSLo "$tmp/kubectl" "$url"
  verify "$tmp/kubectl" "$(curl -fsSL "${url}.sha256")"
  install -m 0755 "$tmp/kubectl" "$BIN_DIR/kubectl"
fi

if ! "$BIN_DIR/helm" version --short 2>/dev/null | grep -q "$HELM_VERSION"; then
  tarball="helm-${HELM_VERSION}-${OS}-${ARCH}.tar.gz"
  curl -fsSLo "$tmp/$tarball" "https://get.helm.sh/${tarball}"
  verify "$tmp/$tarball" "$(curl -fsSL "https://get.helm.sh/${tarball}.sha256sum" | cut -d' ' -f1)"
  tar -xzf "$tmp/$tarball" -C "$tmp"
  install -m 0755 "$tmp/${OS}-${ARCH}/helm" "$BIN_DIR/helm"
fi

echo "installed into $BIN_DIR: kind $KIND_VERSION, kubectl $KUBECTL_VERSION, helm $HELM_VERSION"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "add $BIN_DIR to your PATH" ;; esac
