"""Test support shipped for host projects and for our own tests, demo and benchmarks.

``testing.sandbox`` is a fake provider over HTTP (real MP4s, faults on demand);
``testing.worker`` runs a Dramatiq worker inside the current process. Importing this package
imports nothing else, so the sandbox can run without Django.
"""
