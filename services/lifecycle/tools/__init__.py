"""Small tools we ship ourselves and run as session processes (tests, smoke checks)."""
