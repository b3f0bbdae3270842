"""The environment-building port (``base.py``) and its adapters: ``uv.py`` (local virtual environments)."""
