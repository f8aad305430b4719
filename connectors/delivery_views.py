"""Delivery log pages (minimal placeholder, to be extended): a connector's deliveries, and one delivery."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Connector, Delivery

PAGE_SIZE = 50


def delivery_list(request: HttpRequest, connector_uuid) -> HttpResponse:
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    deliveries = connector.deliveries.defer("body", "headers", "errors")
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "connectors/delivery_list.html", {"connector": connector, "page": page})


def delivery_detail(request: HttpRequest, delivery_uuid) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("connector").defer("body"), uuid=delivery_uuid)
    return render(request, "connectors/delivery_detail.html", {"delivery": delivery, "connector": delivery.connector})
