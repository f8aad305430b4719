from django.apps import AppConfig


class ConnectorsSiteConfig(AppConfig):
    name = "connectors_site"
    verbose_name = "Site"

    def ready(self):
        from django.contrib import admin

        # Support staff land here from the product's own menu: the same name, and a way back to the product.
        admin.site.site_header = "Connector hub administration"
        admin.site.site_title = "Connector hub admin"
        admin.site.index_title = "Support tools"
        admin.site.site_url = "/integrations/"
