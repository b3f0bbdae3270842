"""Benchmarks that print figures beside their baselines, measured in the same run (DESIGN §8).

``python -m bench`` runs every module's ``main()``; ``python -m bench.<module>`` runs one. Never timed in tests.
"""
