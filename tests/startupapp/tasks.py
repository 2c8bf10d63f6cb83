import sys

from jobs import task


@task(name="startup.modules")
def modules() -> list[str]:
    """What the consumer running it has imported by then: its first task, in tests/acceptance/test_startup.py."""
    return sorted(sys.modules)
