"""What the Airflow DAGs in dags/ call: one function per task, each a step of fpa.night (the
same code `fpa load` runs), plus the pull from SFTP and the alerts. DAG files only wire these."""
