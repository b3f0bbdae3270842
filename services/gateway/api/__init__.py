"""The gateway's REST dialects, one package per product (``seqera``, ...)."""
