"""The demo: the credit-default story day by day, its data simulators and its gateway traffic.

``story``      the day loop (``mlstack demo``) and its explicit list of steps
``steps``      the steps: ingest, train (and promote), monitor, the final reproduction
``rollout``    a new challenger's rollout through the real DAG with live simulated traffic
``timeline``   how the story's events read on the closing timeline
``context``    what the steps share (the run's context, a day's result row)
``progress``   the hooks the run tells its progress through (days, story events)
``simulator``  the use cases' data simulators (what lands in the lake each day)
``traffic``    simulated gateway traffic (requests, then their labels as feedback)

The demo runs DAGs through :mod:`mlstack.airflow.runner`; it imports no Airflow itself.
"""
