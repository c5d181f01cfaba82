"""Shared fixtures. Feature fixtures live in ``tests/fixtures/`` and are loaded here."""

pytest_plugins = [
    "tests.fixtures.environment",
    "tests.fixtures.database",
    "tests.fixtures.app",
    "tests.fixtures.s3",
    "tests.fixtures.users",
    "tests.fixtures.github",
    "tests.fixtures.live",
]
