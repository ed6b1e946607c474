"""Training side of emorec (needs PyTorch: ``pip install "emorec[train]"``)."""
