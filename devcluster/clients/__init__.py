"""How devcluster talks to the outside: processes (runner), the Kubernetes API, helm, charts, SSH, downloads."""
