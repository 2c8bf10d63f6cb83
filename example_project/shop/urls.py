from django.urls import path

from . import views

app_name = "shop"
urlpatterns = [
    path("", views.index, name="index"),
    path("status/", views.status, name="status"),
    path("order/", views.place_order, name="place_order"),
    path("report/", views.report, name="report"),
    path("add/", views.add_numbers, name="add"),
    path("fail/", views.fail, name="fail"),
]
