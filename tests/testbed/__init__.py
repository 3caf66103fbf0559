"""Test bed: sshd nodes in network namespaces (see README.md)."""
