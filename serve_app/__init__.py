"""Ray Serve application: the champion forecaster over HTTP (``energy serve``, cluster/serve.yaml).

``schemas`` (request/response bodies), ``service`` (plain-Python request handling), ``loader``
(model source and hot swap), ``deployments`` (the thin Serve deployment), ``app`` (builder and
runner), ``demo`` (the serving half of ``make demo``).
"""
