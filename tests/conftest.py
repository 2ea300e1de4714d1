"""Test configuration: real services come from the fixtures modules below."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.hub",
]
