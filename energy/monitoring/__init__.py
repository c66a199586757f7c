"""Monitoring of served forecasts: store, actuals, accuracy, drift, alerts and the replica logger.

Imports only ``energy.schema``, ``energy.data`` and ``energy.evaluation.metrics`` from the library;
the serving and lifecycle layers call into it, never the reverse.
"""
