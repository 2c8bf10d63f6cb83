"""Every text a task controls, set to what would run a script if a page printed it unescaped: each
payload sets window.__xss, which the browser test reads on every page."""

import os

import redis

from jobs import task

SCRIPT = "<script>window.__xss=1</script>"
ATTRIBUTE = '"><img src=x onerror=window.__xss=1>'
QUOTED = "' onmouseover='window.__xss=1' x='"
URL = "javascript:window.__xss=1"
#: Closes the elements a value may be printed in (a script with JSON, a textarea, a title, an SVG).
CLOSING = "</script><script>window.__xss=1</script></textarea></title></svg><svg onload=window.__xss=1>"
PAYLOAD = f"{SCRIPT} {ATTRIBUTE} {QUOTED} {URL} {CLOSING}"
#: A state name (update_state) is at most 64 characters.
STATE = ATTRIBUTE

#: As hostile as a task name may be (letters, digits and . _ : -): a javascript: URL if printed as a link.
NAME = "javascript:window.__xss"


@task(name=NAME)
def echo(*args, **kwargs):
    return {"args": args, "kwargs": kwargs, "html": PAYLOAD, URL: [SCRIPT]}


@task(name="hostile.fails")
def fails(message):
    raise ValueError(message)


@task(name="hostile.progress", bind=True)
def progress(self, key):
    """Shows the payload as its state and progress until the test pushes to release:<key>."""
    self.update_state(state=STATE, meta={"html": PAYLOAD, "url": URL})
    evidence = redis.Redis.from_url(os.environ["JOBS_BROKER_URL"], socket_timeout=120)
    evidence.rpush(f"started:{key}", 1)
    evidence.blpop([f"release:{key}"], timeout=0)
    return PAYLOAD
