"""The Airflow layer: the one place mlstack imports Airflow. Stages stay plain Python.

``factory``      assembles every use case's DAGs from its spec (``dags/`` calls it)
``usecase_dag``  what every use-case DAG shares: its shape, docs and run helpers
``assets``       the Assets that chain the stages' DAGs
``ingest``, ``catalog``, ``train``, ``promote``, ``rollout``, ``monitor``
                 one module per stage, each building ``<usecase>__<stage>``; its docstring
                 is that DAG's documentation in the Airflow UI
``extra_tasks``  a use case's own tasks (``tasks`` plugins) placed before/after a stage
``stages``       the public API for hand-written DAGs: each stage's task factory, the Assets
``own_dags``     loads a use case's own DAG files from its folder (``<usecase>/dags/*.py``)
``dag_check``    the DAG parse a use case's CI runs (``mlstack usecases check-dags``)
``runner``       runs DAGs in-process with ``dag.test()`` (the embedded demo)
``ui_auth``      Airflow's login and permissions for mlstack's pages
``access``       deploy mode's Airflow accounts and the roles generated per use case

Imports point one way: stage modules → ``usecase_dag``, ``assets``; ``factory`` and
``stages`` → stage modules (``factory`` also → ``extra_tasks``, ``own_dags``); ``runner``
→ ``factory``.
Nothing imports back up.
"""
