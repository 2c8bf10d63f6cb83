"""Tasks whose names, arguments, states, progress, exceptions and results carry HTML and script, for
tests/acceptance/test_security_browser.py (installed with JOBS_TEST_EXTRA_APPS=tests.hostile)."""
