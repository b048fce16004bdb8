"""Read-only views of a cluster and this machine: status, doctor, node checks."""
