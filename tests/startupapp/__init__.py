"""The one app of tasks of tests/startup_settings.py: a worker as lean as a project can make it."""
