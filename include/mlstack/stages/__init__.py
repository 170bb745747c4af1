"""Lifecycle stages as plain Python: no Airflow import in this package (a test checks)."""
