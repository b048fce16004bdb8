"""For action.yml: the pins of the chosen Kubernetes version, written to $GITHUB_ENV.

    python scripts/action-resolve.py KUBERNETES_VERSION [CONFIG]

Reads the config the way `devcluster up --kubernetes-version` does (keys set in it win), so the node image
pulled and the kubectl installed are the ones `up` will use. An unsupported version fails here (exit 2).
"""

from __future__ import annotations

import os
import sys

from devcluster import config
from devcluster.errors import DevclusterError


def main() -> int:
    version = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    try:
        cfg = config.load(path, {"kubernetes_version": version or None})
    except DevclusterError as exc:
        print(f"::error::{exc.message} ({exc.hint})" if exc.hint else f"::error::{exc.message}")
        return exc.exit_code
    kubectl = "v" + cfg.vagrant.kubernetes_package_version.split("-")[0]
    lines = [f"DEVCLUSTER_KUBERNETES_VERSION={cfg.kubernetes_version}", f"KUBECTL_VERSION={kubectl}",
             f"NODE_IMAGE={cfg.kind.node_image}"]
    with open(os.environ.get("GITHUB_ENV", os.devnull), "a") as env:
        env.write("".join(line + "\n" for line in lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
