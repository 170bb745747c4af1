"""Pages mlstack serves inside the Airflow UI (mounted by the plugin in ``plugins/``).

- :mod:`.app` builds the FastAPI app: routers, Airflow's auth dependencies, the redirect to
  Airflow's login, the static files.
- :mod:`.routes` holds one router per resource: ``monitoring`` (pages + JSON), ``reports``
  (report files streamed from the lake), ``catalog``.
- :mod:`.charts` and :mod:`.links` turn read-model data into what a template shows (chart
  data, rollout timeline, URLs); no I/O.
- ``templates/`` (Jinja2, autoescaped) and ``static/`` (CSS in Airflow's colours, the chart
  script, and the pinned charting library under ``static/vendor/``; ``make ui-vendor``).

Data comes from :mod:`mlstack.monitoring.views` (the read model) only.
"""
