"""The Kubernetes side: the only package that imports ``kubernetes``."""
