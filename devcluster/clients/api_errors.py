"""What a failed API call means, in words: unauthorized is not the same as unreachable."""

from __future__ import annotations

import urllib3
from kubernetes.client.rest import ApiException


def api_error_detail(exc: BaseException, server: str) -> str:
    """One line for the user; the server is named, since a kubeconfig may point somewhere unexpected."""
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return (f"the API server at {server} rejected the credentials (HTTP 401 Unauthorized): "
                    "the kubeconfig's token or client certificate is wrong or expired")
        if exc.status == 403:
            return f"the API server at {server} refused access (HTTP 403 Forbidden): {exc.reason}"
        return f"the API server at {server} answered HTTP {exc.status} {exc.reason}"
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS to {server} failed: {text}"
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, ConnectionError)):
        return f"nothing answers at {server} ({text.split(': ', 1)[-1]})"
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return f"{server} did not answer in time"
    return f"{server}: {type(exc).__name__}: {text}"

