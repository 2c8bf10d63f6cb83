"""Names that travel in messages and keys are checked whole: a name with a trailing newline passed a
regex ending in `$` (which matches before a final "\\n"), and a task sent to "emails\\n" waited for ever
in a queue no worker reads. Each door that takes a name refuses it: a call, a decorator, the console,
the command line."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from jobs import control, task
from jobs.engine.errors import ConfigurationError, JobsError
from tests.acceptance.test_control import jobs_command
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

BAD = ["emails\n", "x\n", "emails\r\n", "\nemails", "a\nb"]


def waiting(r) -> list[bytes]:
    return [key for key in r.keys("{jobs}:queue:*")]


@pytest.mark.parametrize("name", BAD)
def test_a_call_with_a_name_ending_in_a_newline_is_refused_and_sends_nothing(r, name):
    with pytest.raises(ValueError, match="queue for tests.testapp.tasks.add is .*use 1-200 characters"):
        tasks.add.apply_async((1, 2), queue=name)
    with pytest.raises(ValueError, match="task_id for tests.testapp.tasks.add is"):
        tasks.add.apply_async((1, 2), task_id=name)
    assert waiting(r) == []


def test_a_task_named_with_a_trailing_newline_is_refused_at_definition(r):
    with pytest.raises(ConfigurationError, match=r"task name of .* is 'shop.send\\n'"):
        task(name="shop.send\n")(lambda: None)
    with pytest.raises(ConfigurationError, match="queue of task"):
        task(name="shop.send_ok", queue="emails\n")(lambda: None)


def test_control_pause_of_a_queue_ending_in_a_newline_is_refused(r):
    with pytest.raises(JobsError, match=r"queue is 'emails\\n'"):
        control.pause("emails\n")
    assert control.paused() == {}


def test_the_console_refuses_to_pause_it(r):
    account = User.objects.create_user("op", password="pw", is_staff=True)
    account.user_permissions.add(*Permission.objects.filter(codename__in=["view_console", "operate_console"]))
    client = Client()
    client.force_login(account)
    response = client.post(reverse("admin:jobs_console_act"),
                           {"action": "pause", "target": ["emails\n"], "confirmed": "1"}, follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert any("not done" in m and "emails\\n" in m for m in said), said
    assert control.paused() == {}


def test_the_command_line_refuses_to_pause_it(r):
    done = jobs_command("pause", "emails\n")
    assert done.returncode != 0 and "emails\\n" in done.stderr and "use 1-200 characters" in done.stderr
    assert control.paused() == {}
