from .settings import *  # noqa: F403

JOBS = {**JOBS, "EAGER": True, "EAGER_PROPAGATES": True}  # noqa: F405
