"""The Overview page: inventory counts by connector, delivery and identification activity as server-rendered SVG
charts, each connector's health, and what needs attention.

``counts`` (inventory counts, kept in ``InventoryCounts`` and recomputed when something changed), ``activity``
(deliveries and records per hour and per day, aggregated in SQL), ``attention`` (the "needs attention" rows),
``charts`` (pure geometry of the SVG charts), ``views`` (the page and the deliveries list its charts link to),
``tasks`` (the background recount).
"""
