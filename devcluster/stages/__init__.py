"""The stages `up` runs after the cluster exists: prerequisites, the stack's releases, verification."""
