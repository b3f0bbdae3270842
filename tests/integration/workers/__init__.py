"""Small programs the integration tests run as child processes (to kill them at awkward moments)."""
