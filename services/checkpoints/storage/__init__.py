"""How a checkpoint is stored: a manifest (``manifest.py``) over content-defined, compressed, content-addressed
chunks (``chunks.py``), written and read by worker processes (``engine.py``)."""
