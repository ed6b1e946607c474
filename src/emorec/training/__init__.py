"""Training side of emorec (needs PyTorch: ``pip install ".[train]"`` from a checkout of emorec)."""
