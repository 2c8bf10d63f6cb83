"""The form a periodic task is edited with in the admin: it suggests the task names this process
knows, reads args and kwargs as the model checks them, and refuses to write over a change made
since the form was opened (beat disables a one-off task after its run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError

from ..engine.api import app as engine_app
from ..models import PeriodicTask, json_value

if TYPE_CHECKING:  # the stubs' ModelForm is generic; Django's own is not subscriptable
    _ModelForm = forms.ModelForm[PeriodicTask]
else:
    _ModelForm = forms.ModelForm


class TaskNameWidget(forms.TextInput):
    """A text box that suggests the task names this process knows (an HTML datalist)."""

    template_name = "admin/jobs/task_name_widget.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, {**(attrs or {}), "list": f"{name}-choices"})
        context["choices"] = list(engine_app.current().registry)
        context["datalist_id"] = f"{name}-choices"
        return context


class PeriodicTaskForm(_ModelForm):
    #: When the row was last changed as this form saw it. Beat changes rows too (a one-off task
    #: disables itself after its run): a form opened before that must not silently undo it.
    seen_changed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and self.instance.date_changed is not None:
            self.fields["seen_changed"].initial = self.instance.date_changed.isoformat()

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.instance.pk is not None:
            seen = self.cleaned_data.get("seen_changed")
            now = PeriodicTask.objects.filter(pk=self.instance.pk).values_list("date_changed", flat=True).first()
            if seen and now is not None and now.isoformat() != seen:
                raise forms.ValidationError(
                    "This periodic task changed after you opened it (beat disables a one-off task after its "
                    "run; or someone else saved it). Your edit was not saved: reload the page and make it again.")
        return cleaned

    class Meta:
        model = PeriodicTask
        fields = ["name", "enabled", "task", "schedule", "args", "kwargs", "queue", "priority", "expire_seconds",
                  "expires", "one_off", "start_time", "catch_up", "description"]
        widgets = {"task": TaskNameWidget(attrs={"size": 60}),
                   "args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
                   "kwargs": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_args(self) -> Any:
        return self._json("args", list)

    def clean_kwargs(self) -> Any:
        return self._json("kwargs", dict)

    def _json(self, field: str, kind: type) -> Any:
        """The field's JSON as the model checks it (json_value): a list or an object, and nothing JSON
        cannot carry. Django's form field reads NaN and Infinity (Python's json does), which the
        database then refuses: an error page, not a form error, without this."""
        value = self.cleaned_data.get(field)
        try:
            return json_value(value, kind, field)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict[field]) from exc
