from django.urls import path

from . import delivery_views, impact_views, mapping_views, refused_views, rule_views, sync_views, views

app_name = "connectors"

connector = "connectors/<uuid:connector_uuid>/"

urlpatterns = [
    path("integrations/", views.integrations, name="integrations"),
    path("connectors/", views.connector_list, name="connector_list"),
    path("connectors/new/", views.connector_create, name="connector_create"),
    path("connectors/bulk/", views.connector_bulk, name="connector_bulk"),
    path(connector, views.connector_detail, name="connector_detail"),
    path(connector + "ready/", views.connector_ready, name="connector_ready"),
    path(connector + "edit/", views.connector_edit, name="connector_edit"),
    path(connector + "enable/", views.connector_enable, name="connector_enable"),
    path(connector + "disable/", views.connector_disable, name="connector_disable"),
    path(connector + "delete/", views.connector_delete, name="connector_delete"),
    path(connector + "rotate-secret/", views.connector_rotate_secret, name="connector_rotate_secret"),
    path(connector + "rotate-token/", views.connector_rotate_token, name="connector_rotate_token"),
    path(connector + "rules/", rule_views.connector_rules, name="connector_rules"),
    path(connector + "rules/options/", rule_views.connector_rule_options, name="connector_rule_options"),
    path(connector + "rules/preview/", rule_views.connector_rule_preview, name="connector_rule_preview"),
    path(
        connector + "rules/<int:rule_id>/required/", rule_views.connector_rule_required, name="connector_rule_required"
    ),
    path(connector + "rules/<int:rule_id>/move/", rule_views.connector_rule_move, name="connector_rule_move"),
    path(connector + "rules/impact/", impact_views.impact_new, name="impact_new"),
    path(connector + "rules/impact/<uuid:preview_uuid>/", impact_views.impact_detail, name="impact_detail"),
    path(connector + "rules/impact/<uuid:preview_uuid>/apply/", impact_views.impact_apply, name="impact_apply"),
    path(connector + "rules/impact/<uuid:preview_uuid>/cancel/", impact_views.impact_cancel, name="impact_cancel"),
    path(connector + "mapping/", mapping_views.connector_mapping, name="connector_mapping"),
    path(connector + "mapping/preview/", mapping_views.connector_mapping_preview, name="connector_mapping_preview"),
    path(connector + "deliveries/", delivery_views.delivery_list, name="delivery_list"),
    path(connector + "deliveries/replay/", delivery_views.delivery_replay_selected, name="delivery_replay_selected"),
    path(connector + "refused/", refused_views.refused_list, name="refused_list"),
    path(connector + "test-delivery/", delivery_views.connector_test_delivery, name="connector_test_delivery"),
    path(connector + "syncs/", sync_views.sync_list, name="sync_list"),
    path("syncs/<uuid:sync_uuid>/", sync_views.sync_detail, name="sync_detail"),
    path("syncs/<uuid:sync_uuid>/confirm/", sync_views.sync_confirm, name="sync_confirm"),
    path("syncs/<uuid:sync_uuid>/discard/", sync_views.sync_discard, name="sync_discard"),
    path("deliveries/<uuid:delivery_uuid>/", delivery_views.delivery_detail, name="delivery_detail"),
    path("deliveries/<uuid:delivery_uuid>/body/", delivery_views.delivery_body, name="delivery_body"),
    path("deliveries/<uuid:delivery_uuid>/replay/", delivery_views.delivery_replay, name="delivery_replay"),
]
