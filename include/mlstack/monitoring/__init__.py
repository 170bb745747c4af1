"""Monitoring: what a model's days look like against what it was trained on.

One module owns each part of a monitoring figure's life:

* its **computation** — the methods :mod:`~mlstack.monitoring.drift`,
  :mod:`~mlstack.monitoring.quality`, :mod:`~mlstack.monitoring.performance` (realised,
  CBPE/DLE, the one "worse than the bar" comparison), and :mod:`~mlstack.monitoring.compute`,
  which applies them to one day of one model version (pure, typed records);
* its **inputs** — :mod:`~mlstack.monitoring.windows` reads the reference rows, the day's
  windows and their labels;
* its **storage** — :mod:`~mlstack.monitoring.history` (series, alerts, decisions, the
  stored report), :mod:`~mlstack.monitoring.reports` (Evidently's HTML/JSON) and
  :mod:`~mlstack.monitoring.report_keys` (where every report lives in the lake);
* its **display** — :mod:`~mlstack.monitoring.views`, the read model the CLI and the pages
  both use.

The stage that runs it all for a day is :mod:`mlstack.stages.monitor`.
"""
