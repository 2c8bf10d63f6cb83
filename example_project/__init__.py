"""A small shop that sends its emails and builds its reports in the background with jobs.

    python -m jobs.devserver                         # prints a redis:// URL
    export JOBS_BROKER_URL=<that URL>
    python manage.py migrate && python manage.py createsuperuser
    python manage.py runworker -Q emails,default -c 2    # in one terminal
    python manage.py runserver                           # in another; open http://127.0.0.1:8000/
"""
