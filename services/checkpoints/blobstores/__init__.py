"""The blob store port (``base.BlobStore``) and its adapters: ``filesystem`` (default), ``s3``, ``memory`` (tests)."""

from services.checkpoints.blobstores.base import BlobInfo, BlobNotFound, BlobStore
from services.checkpoints.blobstores.factory import open_blobstore

__all__ = ["BlobInfo", "BlobNotFound", "BlobStore", "open_blobstore"]
