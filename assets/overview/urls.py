from django.urls import path

from . import views

urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("overview/deliveries/", views.overview_deliveries, name="overview_deliveries"),
]
