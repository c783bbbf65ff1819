"""The API's routes, one module per resource; each route is a few lines over `api.lifecycle` and `api.queries`."""
