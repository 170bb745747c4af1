BEGIN TRANSACTION;
CREATE TABLE catalog_datasets (
	name VARCHAR(200) NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	table_identifier VARCHAR(300) NOT NULL, 
	location TEXT NOT NULL, 
	owner VARCHAR(200) NOT NULL, 
	description TEXT NOT NULL, 
	tags JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "catalog_datasets" VALUES('credit_default.features','credit_default','features','mlstack.credit_default_features','s3://lake/f','risk','applications','{"pii": "no"}','2026-03-01 12:00:00.000000','2026-03-01 12:00:00.000000');
CREATE TABLE catalog_lineage (
	id INTEGER NOT NULL, 
	source VARCHAR(400) NOT NULL, 
	relation VARCHAR(50) NOT NULL, 
	target VARCHAR(400) NOT NULL, 
	details JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lineage_edge UNIQUE (source, relation, target)
);
INSERT INTO "catalog_lineage" VALUES(1,'job:ingest','produced','credit_default.features@1','{}','2026-03-01 12:00:00.000000');
CREATE TABLE catalog_versions (
	id INTEGER NOT NULL, 
	dataset VARCHAR(200) NOT NULL, 
	version INTEGER NOT NULL, 
	snapshot_id BIGINT NOT NULL, 
	partition VARCHAR(100), 
	operation VARCHAR(50) NOT NULL, 
	total_rows BIGINT NOT NULL, 
	partition_rows BIGINT NOT NULL, 
	rejected_rows BIGINT NOT NULL, 
	schema JSON NOT NULL, 
	schema_changes JSON NOT NULL, 
	stats JSON NOT NULL, 
	producer VARCHAR(300) NOT NULL, 
	snapshot_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_version_snapshot UNIQUE (dataset, snapshot_id), 
	CONSTRAINT uq_version_number UNIQUE (dataset, version), 
	FOREIGN KEY(dataset) REFERENCES catalog_datasets (name)
);
INSERT INTO "catalog_versions" VALUES(1,'credit_default.features',1,7001,'2026-03-01','append',100,100,0,'{"age": "long"}','[]','{"age": {"mean": 40.5}}','ingest','2026-03-01 12:00:00.000000','2026-03-01 12:00:00.000000');
INSERT INTO "catalog_versions" VALUES(2,'credit_default.features',2,7002,'2026-03-02','append',200,100,0,'{"age": "long"}','[]','{"age": {"mean": 40.5}}','ingest','2026-03-01 12:00:00.000000','2026-03-01 12:00:00.000000');
CREATE TABLE feedback (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	prediction_id VARCHAR(36), 
	entity_id VARCHAR(200), 
	label FLOAT NOT NULL, 
	label_at DATETIME NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "feedback" VALUES(1,'credit_default','00000000-0000-4000-8000-000000000001','app-1',1.0,'2026-03-01 12:00:00.000000','2026-03-01 12:00:00.000000');
CREATE TABLE monitoring_alerts (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	model_version INTEGER, 
	run_date DATE NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	severity VARCHAR(20) NOT NULL, 
	message TEXT NOT NULL, 
	details JSON NOT NULL, 
	report_uri TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "monitoring_alerts" VALUES(1,'credit_default',1,'2026-03-01','drift','warning','drift in age','{}','s3://lake/reports/x.html','2026-03-01 12:00:00.000000');
CREATE TABLE monitoring_metrics (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	model_version INTEGER, 
	variant VARCHAR(20), 
	run_date DATE NOT NULL, 
	metric VARCHAR(100) NOT NULL, 
	feature VARCHAR(200), 
	value FLOAT, 
	threshold FLOAT, 
	alert BOOLEAN NOT NULL, 
	details JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "monitoring_metrics" VALUES(1,'credit_default',1,NULL,'2026-03-01','estimated_roc_auc',NULL,0.8,0.72,0,'{}','2026-03-01 12:00:00.000000');
INSERT INTO "monitoring_metrics" VALUES(2,'credit_default',1,'champion','2026-03-01','drift_share',NULL,0.1,0.72,0,'{}','2026-03-01 12:00:00.000000');
INSERT INTO "monitoring_metrics" VALUES(3,'credit_default',2,'challenger','2026-03-01','drift_share',NULL,0.2,0.72,0,'{}','2026-03-01 12:00:00.000000');
CREATE TABLE prediction_errors (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	rollout_id VARCHAR(36), 
	rollout_stage INTEGER, 
	variant VARCHAR(20) NOT NULL, 
	model_version INTEGER NOT NULL, 
	error TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "prediction_errors" VALUES(1,'credit_default','11111111-2222-4333-8444-555555555555',0,'challenger',2,'ValueError: bad input','2026-03-01 12:00:00.000000');
CREATE TABLE predictions (
	prediction_id VARCHAR(36) NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	entity_id VARCHAR(200), 
	rollout_id VARCHAR(36), 
	rollout_stage INTEGER, 
	variant VARCHAR(20) NOT NULL, 
	model_version INTEGER NOT NULL, 
	features JSON NOT NULL, 
	prediction FLOAT NOT NULL, 
	score FLOAT, 
	latency_ms FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (prediction_id)
);
INSERT INTO "predictions" VALUES('00000000-0000-4000-8000-000000000001','credit_default','app-1',NULL,NULL,'champion',1,'{"age": 31}',0.1,0.1,2.5,'2026-03-01 12:00:00.000000');
INSERT INTO "predictions" VALUES('00000000-0000-4000-8000-000000000002','credit_default','app-2',NULL,NULL,'champion',1,'{"age": 32}',0.2,0.2,2.5,'2026-03-01 12:00:00.000000');
INSERT INTO "predictions" VALUES('00000000-0000-4000-8000-000000000003','credit_default','app-3',NULL,NULL,'champion',1,'{"age": 33}',3.00000000000000044408e-01,3.00000000000000044408e-01,2.5,'2026-03-01 12:00:00.000000');
CREATE TABLE promotion_decisions (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	model_version INTEGER NOT NULL, 
	run_id VARCHAR(64), 
	action VARCHAR(20) NOT NULL, 
	outcome VARCHAR(20) NOT NULL, 
	compared_with INTEGER, 
	previous_champion INTEGER, 
	reasons JSON NOT NULL, 
	gates JSON NOT NULL, 
	metrics JSON NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "promotion_decisions" VALUES(1,'credit_default',1,'r1','gates','champion',NULL,NULL,'["first model"]','[]','{"roc_auc": 0.8}','airflow','2026-03-01 12:00:00.000000');
CREATE TABLE retrain_requests (
	id INTEGER NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	model_version INTEGER, 
	run_date DATE NOT NULL, 
	decision VARCHAR(20) NOT NULL, 
	reason TEXT NOT NULL, 
	evidence JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "retrain_requests" VALUES(1,'credit_default',1,'2026-03-01','none','no drift','{}','2026-03-01 12:00:00.000000');
CREATE TABLE rollout_decisions (
	id INTEGER NOT NULL, 
	rollout_id VARCHAR(36) NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	stage_index INTEGER NOT NULL, 
	action VARCHAR(20) NOT NULL, 
	reasons JSON NOT NULL, 
	evidence JSON NOT NULL, 
	report_uri TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "rollout_decisions" VALUES(1,'11111111-2222-4333-8444-555555555555','credit_default',0,'wait','["40 labelled rows"]','{}',NULL,'2026-03-01 12:00:00.000000');
CREATE TABLE rollouts (
	rollout_id VARCHAR(36) NOT NULL, 
	usecase VARCHAR(100) NOT NULL, 
	champion_version INTEGER, 
	challenger_version INTEGER NOT NULL, 
	stages JSON NOT NULL, 
	stage_index INTEGER NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	started_at DATETIME NOT NULL, 
	stage_started_at DATETIME NOT NULL, 
	ended_at DATETIME, 
	actor VARCHAR(200) NOT NULL, 
	PRIMARY KEY (rollout_id)
);
INSERT INTO "rollouts" VALUES('11111111-2222-4333-8444-555555555555','credit_default',1,2,'[{"name": "canary", "traffic": 0.1, "shadow": false}]',0,'running','2026-03-01 12:00:00.000000','2026-03-01 12:00:00.000000',NULL,'airflow');
CREATE INDEX ix_catalog_datasets_usecase ON catalog_datasets (usecase);
CREATE INDEX ix_catalog_lineage_source ON catalog_lineage (source);
CREATE INDEX ix_catalog_lineage_target ON catalog_lineage (target);
CREATE INDEX ix_promotion_decisions_usecase ON promotion_decisions (usecase);
CREATE INDEX ix_predictions_usecase_created ON predictions (usecase, created_at);
CREATE INDEX ix_predictions_usecase_entity ON predictions (usecase, entity_id);
CREATE INDEX ix_predictions_rollout_id ON predictions (rollout_id);
CREATE INDEX ix_feedback_prediction_id ON feedback (prediction_id);
CREATE INDEX ix_feedback_usecase_entity ON feedback (usecase, entity_id);
CREATE INDEX ix_prediction_errors_rollout_id ON prediction_errors (rollout_id);
CREATE INDEX ix_rollouts_usecase ON rollouts (usecase);
CREATE INDEX ix_rollout_decisions_rollout_id ON rollout_decisions (rollout_id);
CREATE INDEX ix_monitoring_metrics_series ON monitoring_metrics (usecase, metric, run_date);
CREATE INDEX ix_monitoring_alerts_usecase ON monitoring_alerts (usecase);
CREATE INDEX ix_retrain_requests_usecase ON retrain_requests (usecase);
COMMIT;
