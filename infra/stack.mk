# The compose stack: `make up`, `deploy`, `worker`, `down`, `status`, `logs`, `clean`,
# `backup`, `restore`, `upgrade`, `e2e`, `bench-stack`, `bench-scale`.
# Included by the Makefile (`-include infra/stack.mk`); uses its VENV/BIN. The helpers are
# in infra/stack.py, the services in docker-compose.yml.

STACK := $(BIN)/python infra/stack.py
# `docker compose` on this repository's file and .env (works without .env for down/ps/logs)
COMPOSE := $(STACK) compose --

.PHONY: deploy worker up down status logs clean backup restore upgrade e2e bench-stack bench-scale bench-deploy stack-image stack-wheels

stack-wheels: venv
	@$(STACK) wheels

stack-image: stack-wheels ## build the project image (infra/Dockerfile; also part of `make up`)
	@$(STACK) env
	$(COMPOSE) build

# PROFILES and WORKERS are kept in .env (COMPOSE_PROFILES, WORKERS) for the next commands
STACK_SETTINGS = $(if $(PROFILES),$(STACK) profiles $(PROFILES) &&) $(if $(WORKERS),$(STACK) workers $(WORKERS) &&) true

up: stack-image ## start the stack, wait until healthy; PROFILES=observability adds Prometheus + Grafana, PROFILES=scale Celery workers (WORKERS=N); kept in .env (PROFILES=none)
	@$(STACK_SETTINGS)
	$(COMPOSE) up --detach --remove-orphans
	@$(STACK) wait
	@$(STACK) urls

deploy: stack-image ## the stack on a shared VM behind one TLS entry point: make deploy [DOMAIN=ml.example.org] (README: Deploy)
	@$(STACK) deploy-env $(if $(DOMAIN),--domain $(DOMAIN)) $(if $(HOST),--host $(HOST)) $(if $(WORKER_BIND),--worker-bind $(WORKER_BIND))
	@$(STACK_SETTINGS)
	$(COMPOSE) up --detach --remove-orphans
	@$(STACK) wait
	@$(STACK) deploy-ca
	@$(STACK) urls

worker: stack-image ## on a second machine, with the first one's .env: its Celery workers only: make worker PRIMARY=<address> [WORKERS=N] (README: Scale)
	@test -n "$(PRIMARY)" || { echo "worker: say where the deployment runs: make worker PRIMARY=<its WORKER_BIND address>"; exit 2; }
	@$(if $(WORKERS),$(STACK) workers $(WORKERS))
	@$(STACK) worker --primary $(PRIMARY)

down: venv ## stop the stack (data volumes are kept)
	$(COMPOSE) down --remove-orphans

status: venv ## every service's state and health
	@$(COMPOSE) ps --all --format 'table {{.Service}}\t{{.State}}\t{{.Status}}\t{{.Ports}}'

logs: venv ## recent logs of every service, or of one: make logs s=airflow-scheduler [f=1 follows]
	@$(COMPOSE) logs --tail=200 $(if $(f),--follow) $(s)

clean: venv ## stop the stack and delete its volumes: names them, offers a backup first; YES=1 asks nothing
	@$(STACK) clean $(if $(filter 1,$(YES)),--yes) $(if $(TO),--to $(TO))

backup: venv ## back up the databases and buckets into backups/<UTC time>/ (TO=folder or s3://..., KEEP=n)
	@$(STACK) backup $(if $(TO),--to $(TO)) $(if $(KEEP),--keep $(KEEP))

restore: venv ## restore a backup onto an empty stack: make restore FROM=backups/<UTC time> [FORCE=1]
	@test -n "$(FROM)" || { echo "restore: say which backup: make restore FROM=backups/<UTC time>"; exit 2; }
	@$(STACK) restore --from $(FROM) $(if $(filter 1,$(FORCE)),--force)

# `make backup` may be in any makefile included (another file, or none in an older checkout):
# looked up when the recipe runs, in every makefile read
upgrade: venv ## after `git pull`: back up, build, migrate Airflow, MLflow and mlstack, start, wait; prints the way back; keeps the newest KEEP_IMAGES (3) old images (README: Upgrade)
	@if grep -qsE '^backup:' $(MAKEFILE_LIST); then \
	  $(MAKE) --no-print-directory backup || exit 1; backup="make backup"; \
	elif [ "$(NO_BACKUP)" = 1 ]; then \
	  echo "upgrade: NO_BACKUP=1: going on WITHOUT a backup (the way back cannot restore the data)"; \
	  backup="none: NO_BACKUP=1"; \
	else \
	  echo "upgrade: this checkout has no \`make backup\`, and an upgrade migrates the databases" >&2; \
	  echo "  in place. Back them up first (pg_dump of the airflow, mlflow and mlstack databases," >&2; \
	  echo "  a copy of the lake and mlflow buckets), then run: make upgrade NO_BACKUP=1" >&2; \
	  exit 2; \
	fi; \
	$(STACK) wheels && $(STACK) env && \
	  $(STACK) upgrade --backup "$$backup" $(if $(KEEP_IMAGES),--keep-images $(KEEP_IMAGES))

e2e: stack-wheels ## the end-to-end test on a throwaway stack (own compose project, torn down after)
	$(BIN)/pytest tests/e2e -m e2e -v -s -p no:cacheprovider $(ARGS)

bench-stack: stack-wheels ## time cold and warm start to healthy, idle memory; writes bench/results/stack.md
	$(BIN)/python bench/bench_stack.py $(ARGS)

bench-deploy: stack-wheels ## deploy mode: gateway through Caddy vs direct, idle memory; writes bench/results/deploy.md
	$(BIN)/python bench/bench_deploy.py $(ARGS)

bench-scale: stack-wheels ## 8 use cases on LocalExecutor vs 2/4 Celery workers, gateway 1 vs 2 replicas; writes bench/results/scale.md
	$(BIN)/python bench/bench_scale.py $(ARGS)
