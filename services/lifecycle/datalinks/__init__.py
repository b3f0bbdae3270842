"""Data links in sessions: ``file://`` folders as they are, ``s3://`` links as read-only synchronised copies."""
