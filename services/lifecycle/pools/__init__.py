"""Warm pools: JupyterLab processes started ahead of time per class, bound to a studio at its start (docs/pools.md)."""
