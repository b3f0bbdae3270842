"""Webhooks: signed deliveries of a workspace's events to the endpoints its admins register (docs/webhooks.md).

``fanout.py`` turns events into deliveries (a subscription, exactly once with its checkpoint), ``worker.py`` sends
them (one lane per endpoint), ``signing.py`` and ``addresses.py`` are what each request is made of.
"""
