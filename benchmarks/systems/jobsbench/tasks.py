from jobs import task

from ..common import stamped as _stamped
from ..common import timed as _timed
from ..common import work as _work


@task(name="bench.work")
def work(payload="", sleep=0.0):
    _work(payload, sleep)


@task(name="bench.stamped")
def stamped(sent):
    _stamped(sent)


@task(name="bench.timed")
def timed(sent, sleep=0.0):
    _timed(sent, sleep)
