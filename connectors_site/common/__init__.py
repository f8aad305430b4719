"""Infrastructure every app shares: roles and permissions, problem+json, bulk SQL, pagination, health, and the
small HTMX, redirect and sorting helpers of the HTML pages. Nothing here imports an app."""
