"""What every list of jobs' admin does first: refuse, with a 400 that says why, an address the
database cannot be asked about; the periodic tasks', the schedules' and the history's lists share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db import DataError, router, transaction
from django.http import HttpRequest, HttpResponseBadRequest
from django.template.response import TemplateResponse

from ..console import params

if TYPE_CHECKING:  # the stubs' ModelAdmin is generic; Django's own is not subscriptable
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class AddressChecked(_ModelAdmin):
    """A list whose address holds what the database cannot be asked (a NUL: PostgreSQL's text and JSON
    cannot hold one; an id past a 64-bit integer, which SQLite cannot bind) answers 400 saying so, as
    the console's pages do (console/params.py), not 500. Django's admin reads any parameter of a
    list's address as a filter on the model's fields, so the check is on every parameter."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method not in ("GET", "HEAD"):
            return super().changelist_view(request, extra_context)
        try:
            for name, values in request.GET.lists():
                for value in (name, *values):
                    params.checked(name, value)
            # A savepoint: on PostgreSQL a refused query would leave an outer transaction unusable.
            with transaction.atomic(using=router.db_for_read(self.model)):
                response = super().changelist_view(request, extra_context)
                if isinstance(response, TemplateResponse):
                    response.render()  # its queries run here, inside the savepoint, not after
        except params.BadParameter as exc:
            return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
        except (OverflowError, DataError) as exc:
            return HttpResponseBadRequest(f"a filter in this address cannot be used: {exc}\n",
                                          content_type="text/plain; charset=utf-8")
        return response

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """None (the admin's "does not exist") for an id no row can have: past a 64-bit integer, which
        SQLite cannot bind for a schedule's id (a link to its base row, which Django does not range-check).
        An empty ?_to_field= is no field (Django reads it as a field named "": a 500)."""
        try:
            return super().get_object(request, object_id, from_field or None)
        except OverflowError:
            return None
