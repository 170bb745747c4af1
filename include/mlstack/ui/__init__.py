"""Pages mlstack serves inside the Airflow UI (mounted by the plugin in ``plugins/``)."""
