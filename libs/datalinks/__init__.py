"""Data links the gateway and lifecycle both read: object-store access and the credentials it takes."""
