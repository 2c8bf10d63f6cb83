"""A Celery project ported to jobs by following docs/from-celery.md, and run: celery_original/ is the
project as a Celery user has it (kept as .txt: Celery is not installed), project/ is the port, with
manage.py's settings module proj.settings, and test_ported_project.py runs the port's Procfile
lines against the tests' private Redis. Where the docs did not carry the port, the docs were fixed."""
