"""The operations console: queues, workers, running, scheduled and failed tasks, the history and
per-task metrics, in the Django admin (admin:jobs_console), live, with the admin's login and rights.

    views.py   the pages' URLs under the admin, their rights, and the one view of every action (POST only)
    actions.py the table of actions: each one's right, what it calls in jobs.control, what it reports
    pages.py   what each page reads (Redis through jobs.inspection, the history table)
    params.py  every parameter a page reads from its address, checked
    charts.py  the charts, drawn as SVG here on the server (no script, no CDN)
    headers.py the security headers of every answer: a Content-Security-Policy without inline script

The look is the admin's own (light and dark); static/jobs/console.js refreshes each page's figures
by fetching its fragment every few seconds, paused while the tab is hidden.
"""
