"""The inference service (`deepwild serve`): model packages loaded once and served over HTTP by FastAPI,
with limits that hold under abuse, Prometheus metrics and a web page.

`models` finds and loads the packages, `limits` bounds bodies, queue and time, `metrics` counts,
`app` builds the FastAPI application; the page lives in `static/`.
"""
