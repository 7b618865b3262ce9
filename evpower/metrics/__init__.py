"""Prometheus metrics: /metrics (views.py) exports prometheus_client's default registry,
which holds django-prometheus's HTTP and database metrics and ours (names `evpower_*`):

- registry.py: counters and histograms counted in-process where things happen (OCPP frames,
  commands, webhook auth failures, rate-limit rejections);
- collectors.py: values read at scrape time (gauges from the database, circuit breakers, and
  Celery task counts that workers keep in the shared cache, see celery_tasks.py).
"""
