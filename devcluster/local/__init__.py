"""What lives on this machine: the state dir, /etc/hosts, TLS pairs, generated secrets, the cluster lock."""
