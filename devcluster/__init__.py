"""devcluster: a throw-away Kubernetes cluster with the Forail platform installed."""

__version__ = "0.1.0"
