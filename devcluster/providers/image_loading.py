"""`image load` for Docker-based nodes (kind): push to the local registry, or archive into the nodes.

With the registry on, an image is tagged localhost:<port>/<path> and pushed: docker sends only the layers the
registry lacks, and an image whose digest the registry already serves under that tag is not pushed at
all. Without it, `docker save` then `kind load image-archive` (which works with Docker's containerd image
store, unlike `kind load docker-image`, kind #3795), only into the nodes that do not already hold the
image's ID (what kind itself compares: the node's `crictl inspecti` id against docker's image ID).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from devcluster.clients import runner
from devcluster.clients.registry import local_reference
from devcluster.config.schema import Config
from devcluster.local import pushed_images
from devcluster.local.state import State

ACCEPT = ("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
          "application/vnd.docker.distribution.manifest.list.v2+json, "
          "application/vnd.docker.distribution.manifest.v2+json")


def image_id(image: str) -> str:
    res = runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], timeout=60,
                     hint=f"is {image} in this machine's Docker? `docker image ls`")
    return res.stdout.strip()


def repo_digests(image: str) -> list[str]:
    res = runner.run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", image], check=False,
                     timeout=60)
    return list(json.loads(res.stdout or "null") or []) if res.ok else []


def served_digest(port: int, name: str, tag: str) -> str:
    """The digest the registry serves for name:tag ('' when none): a HEAD, read-only."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("HEAD", f"/v2/{name}/manifests/{tag}", headers={"Accept": ACCEPT})
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("Docker-Content-Digest", "") if resp.status == 200 else ""
    except OSError:
        return ""
    finally:
        conn.close()


def unchanged_in_registry(image: str, target: str, port: int) -> bool:
    """The target tag is this very image (same ID) and the registry serves the digest docker last pushed."""
    if not _exists(target) or image_id(target) != image_id(image):
        return False
    repo, _, tag = target.removeprefix(f"localhost:{port}/").rpartition(":")
    served = served_digest(port, repo, tag)
    return bool(served) and f"localhost:{port}/{repo}@{served}" in repo_digests(target)


def _exists(image: str) -> bool:
    return runner.run(["docker", "image", "inspect", image], check=False, timeout=60).ok


def push_images(cfg: Config, images: list[str], say: Callable[[str], None],
                echo: Callable[[str], None] | None = None) -> list[str]:
    """Push each image to the local registry unless unchanged; the references pushed or kept."""
    out = []
    for image in images:
        target = local_reference(image, cfg.registry.port)
        if unchanged_in_registry(image, target, cfg.registry.port):
            say(f"{image}: unchanged, {target} already serves it (nothing sent)")
        else:
            runner.run(["docker", "tag", image, target], timeout=60)
            runner.run(["docker", "push", target], timeout=1800, echo=echo,
                       hint=f"is the local registry up? `docker logs devcluster-registry` (port {cfg.registry.port})")
            say(f"{image}: pushed as {target} (only layers the registry lacked were sent)")
        out.append(target)
    return out


def push_and_record(cfg: Config, state: State, images: list[str], say: Callable[[str], None],
                    echo: Callable[[str], None] | None = None) -> list[str]:
    """push_images, then the digest the registry serves for each reference, recorded for the stack's values
    (tag@digest: a re-push under the same tag changes the pod spec, so it rolls out)."""
    targets = push_images(cfg, images, say, echo)
    port = cfg.registry.port
    digests = {}
    for target in targets:
        repo, _, tag = target.removeprefix(f"localhost:{port}/").rpartition(":")
        digests[target] = served_digest(port, repo, tag)
    pushed_images.record(state, {ref: digest for ref, digest in digests.items() if digest})
    return targets


def node_image_id(node: str, image: str) -> str:
    res = runner.run(["docker", "exec", node, "crictl", "inspecti", "-o", "json", image], check=False, timeout=60)
    if not res.ok:
        return ""
    try:
        return str(json.loads(res.stdout).get("status", {}).get("id", ""))
    except json.JSONDecodeError:
        return ""


def archive_into_nodes(cluster: str, nodes: list[str], images: list[str], say: Callable[[str], None],
                       echo: Callable[[str], None] | None = None) -> None:
    for image in images:
        wanted = image_id(image)
        missing = [n for n in nodes if node_image_id(n, image) != wanted]
        for node in sorted(set(nodes) - set(missing)):
            say(f"{image}: {node} already holds {wanted[:19]} (skipped)")
        if not missing:
            continue
        with tempfile.TemporaryDirectory(prefix="devcluster-image-") as tmp:
            archive = Path(tmp) / "image.tar"
            runner.run(["docker", "save", "-o", str(archive), image], timeout=1800)
            runner.run(["kind", "load", "image-archive", str(archive), "--name", cluster, "--nodes", ",".join(missing)],
                       timeout=1800, echo=echo)
        for node in missing:
            say(f"{image}: loaded into {node}")
