from django.urls import path
from django.views.generic import RedirectView

from . import conflict_views, duplicate_views, rule_views, ruledef_views, views

app_name = "assets"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="assets:asset_list"), name="index"),
    path("assets/", views.asset_list, name="asset_list"),
    path("assets/export.csv", views.asset_export, name="asset_export"),
    path("assets/<uuid:uuid>/", views.asset_detail, name="asset_detail"),
    path("sources/<int:pk>/split/", views.source_split, name="source_split"),
    path("events/<int:pk>/undo/", views.event_undo, name="event_undo"),
    path("duplicates/", duplicate_views.duplicates, name="duplicates"),
    path("duplicates/merge/", duplicate_views.merge, name="merge"),
    path("duplicates/not-duplicate/", duplicate_views.not_duplicate, name="not_duplicate"),
    path("conflicts/", conflict_views.conflicts, name="conflicts"),
    path("rules/", rule_views.rule_list, name="rule_list"),
    path("rules/new/", rule_views.rule_create, name="rule_create"),
    path("rules/<int:pk>/", rule_views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", rule_views.rule_delete, name="rule_delete"),
    path("rules/<int:pk>/impact/", ruledef_views.rule_impact_new, name="rule_impact_new"),
    path("rules/<int:pk>/impact/<uuid:preview_uuid>/", ruledef_views.rule_impact_detail, name="rule_impact_detail"),
    path("rules/<int:pk>/impact/<uuid:preview_uuid>/apply/", ruledef_views.rule_impact_apply, name="rule_impact_apply"),
    path(
        "rules/<int:pk>/impact/<uuid:preview_uuid>/cancel/",
        ruledef_views.rule_impact_cancel,
        name="rule_impact_cancel",
    ),
]
