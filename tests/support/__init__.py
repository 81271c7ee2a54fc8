"""Helpers shared by the test suites (real processes for integration tests)."""
