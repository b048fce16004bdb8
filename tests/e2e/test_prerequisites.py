"""The cluster prerequisites devcluster installs, checked on a real cluster."""

from __future__ import annotations

import base64
import http.client

from cryptography import x509
from kubernetes import client

from .conftest import Expect


def test_all_nodes_ready(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert nodes, "the cluster has no nodes"
    not_ready = [n.metadata.name for n in nodes
                 if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
    assert not not_ready, f"nodes not Ready: {not_ready}"


def test_traefik_rolled_out_behind_the_node_ports(expect: Expect, apps: client.AppsV1Api,
                                                   core: client.CoreV1Api) -> None:
    dep = apps.read_namespaced_deployment(expect.traefik_release, expect.traefik_namespace)
    want = dep.spec.replicas or 1
    assert (dep.status.ready_replicas or 0) >= want and (dep.status.updated_replicas or 0) >= want
    services = core.list_namespaced_service(expect.traefik_namespace).items
    node_ports = {p.node_port for s in services if s.spec.type == "NodePort" for p in s.spec.ports}
    assert {expect.http_port, expect.https_port} <= node_ports, f"NodePorts found: {sorted(node_ports)}"


def test_traefik_is_the_default_ingress_class(api: client.ApiClient) -> None:
    ic = client.NetworkingV1Api(api).read_ingress_class("traefik")
    assert (ic.metadata.annotations or {}).get("ingressclass.kubernetes.io/is-default-class") == "true"


def test_local_path_is_the_only_default_storage_class(api: client.ApiClient) -> None:
    classes = client.StorageV1Api(api).list_storage_class().items
    defaults = [sc.metadata.name for sc in classes if "true" in (
        (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class"),
        (sc.metadata.annotations or {}).get("storageclass.beta.kubernetes.io/is-default-class"))]
    assert defaults == ["local-path"]


def test_namespace_and_tls_secret_for_the_hostname(expect: Expect, core: client.CoreV1Api) -> None:
    core.read_namespace(expect.namespace)
    secret = core.read_namespaced_secret(expect.tls_secret, expect.namespace)
    assert secret.type == "kubernetes.io/tls"
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {expect.hostname, f"*.{expect.hostname}"} <= set(sans.get_values_for_type(x509.DNSName))


def test_traefik_answers_on_the_http_node_port(expect: Expect) -> None:
    conn = http.client.HTTPConnection(expect.ingress_address, expect.http_port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": f"devcluster-probe.{expect.hostname}"})
        resp = conn.getresponse()
        server = resp.getheader("Server") or ""
        assert resp.status == 404 or "traefik" in server.lower(), (resp.status, server)
    finally:
        conn.close()
