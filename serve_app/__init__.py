"""Ray Serve application for forecasts over HTTP (serving milestone; see the issue tracker)."""
