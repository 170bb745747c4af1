"""Monitoring: drift, data quality, performance (realised and estimated) and reports."""
