from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "total", "created", "confirmation_task_id"]
    search_fields = ["email", "confirmation_task_id"]
    readonly_fields = ["created"]
