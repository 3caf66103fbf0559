"""Test doubles (fakes) shared by the test suites. Nothing here talks to a real cluster."""
