"""The ``studios`` command, one module per command group; ``app`` assembles them."""
