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


def _tagged(image: str) -> tuple[str, list[str]] | None:
    """(ID, RepoDigests) of a local tag in one `docker image inspect`; None when there is no such tag."""
    res = runner.run(["docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", image],
                     check=False, timeout=60)
    if not res.ok:
        return None
    found, _, digests = res.stdout.strip().partition(" ")
    return found, list(json.loads(digests or "null") or [])


def _path_and_tag(target: str, port: int) -> tuple[str, str]:
    """localhost:5001/forail-platform/forail-backend:dev -> (forail-platform/forail-backend, dev)."""
    path, _, tag = target.removeprefix(f"localhost:{port}/").rpartition(":")
    return path, tag


def unchanged_digest(image: str, target: str, port: int) -> str:
    """The digest the registry serves for ``target`` when the target tag is this very image (same ID) and the
    registry still serves the digest docker last pushed; '' when it must be pushed."""
    tagged = _tagged(target)
    if tagged is None or tagged[0] != image_id(image):
        return ""
    repo, tag = _path_and_tag(target, port)
    served = served_digest(port, repo, tag)
    return served if served and f"localhost:{port}/{repo}@{served}" in tagged[1] else ""


def _push(cfg: Config, image: str, say: Callable[[str], None], echo: Callable[[str], None] | None) -> tuple[str, str]:
    """Push one image unless unchanged: (the reference, the digest the registry serves for it)."""
    port = cfg.registry.port
    target = local_reference(image, port)
    digest = unchanged_digest(image, target, port)
    if digest:
        say(f"{image}: unchanged, {target} already serves it (nothing sent)")
        return target, digest
    runner.run(["docker", "tag", image, target], timeout=60)
    runner.run(["docker", "push", target], timeout=1800, echo=echo,
               hint=f"is the local registry up? `docker logs devcluster-registry` (port {port})")
    say(f"{image}: pushed as {target} (only layers the registry lacked were sent)")
    return target, served_digest(port, *_path_and_tag(target, port))


def push_images(cfg: Config, images: list[str], say: Callable[[str], None],
                echo: Callable[[str], None] | None = None) -> list[str]:
    """Push each image to the local registry unless unchanged; the references pushed or kept."""
    return [target for target, _ in (_push(cfg, image, say, echo) for image in images)]


def push_and_record(cfg: Config, state: State, images: list[str], say: Callable[[str], None],
                    echo: Callable[[str], None] | None = None) -> list[str]:
    """push_images, recording the digest the registry serves for each reference for the stack's values
    (tag@digest: a re-push under the same tag changes the pod spec, so it rolls out)."""
    pushed = [_push(cfg, image, say, echo) for image in images]
    pushed_images.record(state, {ref: digest for ref, digest in pushed if digest})
    return [ref for ref, _ in pushed]


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
