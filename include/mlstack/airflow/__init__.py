"""The Airflow layer: the one place mlstack imports Airflow. Stages stay plain Python."""
