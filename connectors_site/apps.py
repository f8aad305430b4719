from django.apps import AppConfig


class ConnectorsSiteConfig(AppConfig):
    name = "connectors_site"
    verbose_name = "Site"
