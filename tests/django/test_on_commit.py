"""Enqueue on commit: a task sent inside a transaction reaches Redis only when the transaction commits,
and never if it rolls back, so a worker cannot look for a row that is not committed yet."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from jobs.engine.errors import EncodeError
from jobs.engine.setup import app as engine_app
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def waiting() -> int:
    broker = engine_app.current().broker
    return broker.controls.queue_length("default") + broker.scheduled.count()


def test_sent_when_the_transaction_commits_not_before():
    with transaction.atomic():
        user = User.objects.create(username="ada")
        result = tasks.add.delay_on_commit(user.pk, 1)
        tasks.add.apply_async((1, 1), countdown=60, on_commit=True)
        assert waiting() == 0 and result.status == "PENDING"
    assert waiting() == 2
    assert engine_app.current().broker.controls.queue_length("default") == 1  # the countdown one waits its turn


def test_never_sent_if_the_transaction_rolls_back():
    with pytest.raises(ValueError):
        with transaction.atomic():
            tasks.add.delay_on_commit(1, 1)
            raise ValueError("the view failed after sending")
    assert waiting() == 0


def test_a_rolled_back_savepoint_drops_only_its_own_tasks():
    with transaction.atomic():
        tasks.add.delay_on_commit(1, 1)
        try:
            with transaction.atomic():
                tasks.add.delay_on_commit(2, 2)
                raise ValueError
        except ValueError:
            pass
    assert waiting() == 1


def test_outside_a_transaction_it_is_sent_at_once():
    tasks.add.delay_on_commit(1, 1)
    assert waiting() == 1


def test_enqueue_on_commit_setting_makes_every_delay_wait_unless_told_otherwise():
    with override_settings(JOBS={"ENQUEUE_ON_COMMIT": True}):
        with transaction.atomic():
            tasks.add.delay(1, 1)
            tasks.add.apply_async((2, 2), on_commit=False)
            assert waiting() == 1
        assert waiting() == 2


def test_an_argument_that_cannot_be_sent_fails_at_the_call_not_at_commit():
    with transaction.atomic():
        user = User.objects.create(username="grace")
        with pytest.raises(EncodeError, match="pass its primary key"):
            tasks.add.delay_on_commit(user, 1)
        with pytest.raises(EncodeError, match="set"):
            tasks.add.delay_on_commit({1, 2}, 1)
    assert waiting() == 0


def test_eager_mode_runs_it_at_commit():
    with override_settings(JOBS={"EAGER": True}):
        with transaction.atomic():
            result = tasks.add.delay_on_commit(2, 3)
            assert result.status == "PENDING"
            with pytest.raises(RuntimeError, match="runs when the transaction commits"):
                result.get()
        assert result.status == "SUCCESS" and result.get() == 5


def test_a_worker_finds_the_row_the_task_was_sent_for(start_worker, test_database_env):
    start_worker("-P", "solo", env=test_database_env)
    with transaction.atomic():
        user = User.objects.create(username="linus")
        result = tasks.username_of.delay_on_commit(user.pk)
    assert result.get(timeout=10) == "linus"
