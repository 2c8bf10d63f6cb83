"""An app whose task reuses a name already taken in tests.testapp: a worker must refuse to start."""

from jobs import task


@task(name="shop.send_welcome")
def send_welcome_again(user_id):
    return user_id
