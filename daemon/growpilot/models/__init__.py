"""Models: provisioning from PyPI packages (verified by sha256), loading, and generation backends."""
