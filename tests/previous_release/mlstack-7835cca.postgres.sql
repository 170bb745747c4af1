--
-- PostgreSQL database dump
--


-- Dumped from database version 18.6
-- Dumped by pg_dump version 18.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: catalog_datasets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.catalog_datasets (
    name character varying(200) NOT NULL,
    usecase character varying(100) NOT NULL,
    kind character varying(50) NOT NULL,
    table_identifier character varying(300) NOT NULL,
    location text NOT NULL,
    owner character varying(200) NOT NULL,
    description text NOT NULL,
    tags json NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: catalog_lineage; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.catalog_lineage (
    id integer NOT NULL,
    source character varying(400) NOT NULL,
    relation character varying(50) NOT NULL,
    target character varying(400) NOT NULL,
    details json NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: catalog_lineage_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.catalog_lineage_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: catalog_lineage_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.catalog_lineage_id_seq OWNED BY public.catalog_lineage.id;


--
-- Name: catalog_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.catalog_versions (
    id integer NOT NULL,
    dataset character varying(200) NOT NULL,
    version integer NOT NULL,
    snapshot_id bigint NOT NULL,
    partition character varying(100),
    operation character varying(50) NOT NULL,
    total_rows bigint NOT NULL,
    partition_rows bigint NOT NULL,
    rejected_rows bigint NOT NULL,
    schema json NOT NULL,
    schema_changes json NOT NULL,
    stats json NOT NULL,
    producer character varying(300) NOT NULL,
    snapshot_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: catalog_versions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.catalog_versions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: catalog_versions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.catalog_versions_id_seq OWNED BY public.catalog_versions.id;


--
-- Name: feedback; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feedback (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    prediction_id character varying(36),
    entity_id character varying(200),
    label double precision NOT NULL,
    label_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone NOT NULL
);


--
-- Name: feedback_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.feedback_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: feedback_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.feedback_id_seq OWNED BY public.feedback.id;


--
-- Name: monitoring_alerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.monitoring_alerts (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    model_version integer,
    run_date date NOT NULL,
    kind character varying(50) NOT NULL,
    severity character varying(20) NOT NULL,
    message text NOT NULL,
    details json NOT NULL,
    report_uri text,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: monitoring_alerts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.monitoring_alerts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: monitoring_alerts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.monitoring_alerts_id_seq OWNED BY public.monitoring_alerts.id;


--
-- Name: monitoring_metrics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.monitoring_metrics (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    model_version integer,
    variant character varying(20),
    run_date date NOT NULL,
    metric character varying(100) NOT NULL,
    feature character varying(200),
    value double precision,
    threshold double precision,
    alert boolean NOT NULL,
    details json NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: monitoring_metrics_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.monitoring_metrics_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: monitoring_metrics_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.monitoring_metrics_id_seq OWNED BY public.monitoring_metrics.id;


--
-- Name: prediction_errors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.prediction_errors (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    rollout_id character varying(36),
    rollout_stage integer,
    variant character varying(20) NOT NULL,
    model_version integer NOT NULL,
    error text NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: prediction_errors_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.prediction_errors_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: prediction_errors_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.prediction_errors_id_seq OWNED BY public.prediction_errors.id;


--
-- Name: predictions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.predictions (
    prediction_id character varying(36) NOT NULL,
    usecase character varying(100) NOT NULL,
    entity_id character varying(200),
    rollout_id character varying(36),
    rollout_stage integer,
    variant character varying(20) NOT NULL,
    model_version integer NOT NULL,
    features json NOT NULL,
    prediction double precision NOT NULL,
    score double precision,
    latency_ms double precision NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: promotion_decisions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.promotion_decisions (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    model_version integer NOT NULL,
    run_id character varying(64),
    action character varying(20) NOT NULL,
    outcome character varying(20) NOT NULL,
    compared_with integer,
    previous_champion integer,
    reasons json NOT NULL,
    gates json NOT NULL,
    metrics json NOT NULL,
    actor character varying(200) NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: promotion_decisions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.promotion_decisions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: promotion_decisions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.promotion_decisions_id_seq OWNED BY public.promotion_decisions.id;


--
-- Name: retrain_requests; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.retrain_requests (
    id integer NOT NULL,
    usecase character varying(100) NOT NULL,
    model_version integer,
    run_date date NOT NULL,
    decision character varying(20) NOT NULL,
    reason text NOT NULL,
    evidence json NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: retrain_requests_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.retrain_requests_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: retrain_requests_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.retrain_requests_id_seq OWNED BY public.retrain_requests.id;


--
-- Name: rollout_decisions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rollout_decisions (
    id integer NOT NULL,
    rollout_id character varying(36) NOT NULL,
    usecase character varying(100) NOT NULL,
    stage_index integer NOT NULL,
    action character varying(20) NOT NULL,
    reasons json NOT NULL,
    evidence json NOT NULL,
    report_uri text,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: rollout_decisions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.rollout_decisions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: rollout_decisions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.rollout_decisions_id_seq OWNED BY public.rollout_decisions.id;


--
-- Name: rollouts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rollouts (
    rollout_id character varying(36) NOT NULL,
    usecase character varying(100) NOT NULL,
    champion_version integer,
    challenger_version integer NOT NULL,
    stages json NOT NULL,
    stage_index integer NOT NULL,
    state character varying(20) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    stage_started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    actor character varying(200) NOT NULL
);


--
-- Name: catalog_lineage id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_lineage ALTER COLUMN id SET DEFAULT nextval('public.catalog_lineage_id_seq'::regclass);


--
-- Name: catalog_versions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_versions ALTER COLUMN id SET DEFAULT nextval('public.catalog_versions_id_seq'::regclass);


--
-- Name: feedback id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback ALTER COLUMN id SET DEFAULT nextval('public.feedback_id_seq'::regclass);


--
-- Name: monitoring_alerts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.monitoring_alerts ALTER COLUMN id SET DEFAULT nextval('public.monitoring_alerts_id_seq'::regclass);


--
-- Name: monitoring_metrics id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.monitoring_metrics ALTER COLUMN id SET DEFAULT nextval('public.monitoring_metrics_id_seq'::regclass);


--
-- Name: prediction_errors id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.prediction_errors ALTER COLUMN id SET DEFAULT nextval('public.prediction_errors_id_seq'::regclass);


--
-- Name: promotion_decisions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.promotion_decisions ALTER COLUMN id SET DEFAULT nextval('public.promotion_decisions_id_seq'::regclass);


--
-- Name: retrain_requests id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.retrain_requests ALTER COLUMN id SET DEFAULT nextval('public.retrain_requests_id_seq'::regclass);


--
-- Name: rollout_decisions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollout_decisions ALTER COLUMN id SET DEFAULT nextval('public.rollout_decisions_id_seq'::regclass);


--
-- Data for Name: catalog_datasets; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.catalog_datasets VALUES ('credit_default.features', 'credit_default', 'features', 'mlstack.credit_default_features', 's3://lake/f', 'risk', 'applications', '{"pii": "no"}', '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00');


--
-- Data for Name: catalog_lineage; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.catalog_lineage VALUES (1, 'job:ingest', 'produced', 'credit_default.features@1', '{}', '2026-03-01 12:00:00+00');


--
-- Data for Name: catalog_versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.catalog_versions VALUES (1, 'credit_default.features', 1, 7001, '2026-03-01', 'append', 100, 100, 0, '{"age": "long"}', '[]', '{"age": {"mean": 40.5}}', 'ingest', '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00');
INSERT INTO public.catalog_versions VALUES (2, 'credit_default.features', 2, 7002, '2026-03-02', 'append', 200, 100, 0, '{"age": "long"}', '[]', '{"age": {"mean": 40.5}}', 'ingest', '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00');


--
-- Data for Name: feedback; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feedback VALUES (1, 'credit_default', '00000000-0000-4000-8000-000000000001', 'app-1', 1, '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00');


--
-- Data for Name: monitoring_alerts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.monitoring_alerts VALUES (1, 'credit_default', 1, '2026-03-01', 'drift', 'warning', 'drift in age', '{}', 's3://lake/reports/x.html', '2026-03-01 12:00:00+00');


--
-- Data for Name: monitoring_metrics; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.monitoring_metrics VALUES (1, 'credit_default', 1, NULL, '2026-03-01', 'estimated_roc_auc', NULL, 0.8, 0.72, false, '{}', '2026-03-01 12:00:00+00');
INSERT INTO public.monitoring_metrics VALUES (2, 'credit_default', 1, 'champion', '2026-03-01', 'drift_share', NULL, 0.1, 0.72, false, '{}', '2026-03-01 12:00:00+00');
INSERT INTO public.monitoring_metrics VALUES (3, 'credit_default', 2, 'challenger', '2026-03-01', 'drift_share', NULL, 0.2, 0.72, false, '{}', '2026-03-01 12:00:00+00');


--
-- Data for Name: prediction_errors; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.prediction_errors VALUES (1, 'credit_default', '11111111-2222-4333-8444-555555555555', 0, 'challenger', 2, 'ValueError: bad input', '2026-03-01 12:00:00+00');


--
-- Data for Name: predictions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.predictions VALUES ('00000000-0000-4000-8000-000000000001', 'credit_default', 'app-1', NULL, NULL, 'champion', 1, '{"age": 31}', 0.1, 0.1, 2.5, '2026-03-01 12:00:00+00');
INSERT INTO public.predictions VALUES ('00000000-0000-4000-8000-000000000002', 'credit_default', 'app-2', NULL, NULL, 'champion', 1, '{"age": 32}', 0.2, 0.2, 2.5, '2026-03-01 12:00:00+00');
INSERT INTO public.predictions VALUES ('00000000-0000-4000-8000-000000000003', 'credit_default', 'app-3', NULL, NULL, 'champion', 1, '{"age": 33}', 0.30000000000000004, 0.30000000000000004, 2.5, '2026-03-01 12:00:00+00');


--
-- Data for Name: promotion_decisions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.promotion_decisions VALUES (1, 'credit_default', 1, 'r1', 'gates', 'champion', NULL, NULL, '["first model"]', '[]', '{"roc_auc": 0.8}', 'airflow', '2026-03-01 12:00:00+00');


--
-- Data for Name: retrain_requests; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.retrain_requests VALUES (1, 'credit_default', 1, '2026-03-01', 'none', 'no drift', '{}', '2026-03-01 12:00:00+00');


--
-- Data for Name: rollout_decisions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.rollout_decisions VALUES (1, '11111111-2222-4333-8444-555555555555', 'credit_default', 0, 'wait', '["40 labelled rows"]', '{}', NULL, '2026-03-01 12:00:00+00');


--
-- Data for Name: rollouts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.rollouts VALUES ('11111111-2222-4333-8444-555555555555', 'credit_default', 1, 2, '[{"name": "canary", "traffic": 0.1, "shadow": false}]', 0, 'running', '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00', NULL, 'airflow');


--
-- Name: catalog_lineage_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.catalog_lineage_id_seq', 1, true);


--
-- Name: catalog_versions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.catalog_versions_id_seq', 2, true);


--
-- Name: feedback_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.feedback_id_seq', 1, true);


--
-- Name: monitoring_alerts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.monitoring_alerts_id_seq', 1, true);


--
-- Name: monitoring_metrics_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.monitoring_metrics_id_seq', 3, true);


--
-- Name: prediction_errors_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.prediction_errors_id_seq', 1, true);


--
-- Name: promotion_decisions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.promotion_decisions_id_seq', 1, true);


--
-- Name: retrain_requests_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.retrain_requests_id_seq', 1, true);


--
-- Name: rollout_decisions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.rollout_decisions_id_seq', 1, true);


--
-- Name: catalog_datasets catalog_datasets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_datasets
    ADD CONSTRAINT catalog_datasets_pkey PRIMARY KEY (name);


--
-- Name: catalog_lineage catalog_lineage_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_lineage
    ADD CONSTRAINT catalog_lineage_pkey PRIMARY KEY (id);


--
-- Name: catalog_versions catalog_versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_versions
    ADD CONSTRAINT catalog_versions_pkey PRIMARY KEY (id);


--
-- Name: feedback feedback_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback
    ADD CONSTRAINT feedback_pkey PRIMARY KEY (id);


--
-- Name: monitoring_alerts monitoring_alerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.monitoring_alerts
    ADD CONSTRAINT monitoring_alerts_pkey PRIMARY KEY (id);


--
-- Name: monitoring_metrics monitoring_metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.monitoring_metrics
    ADD CONSTRAINT monitoring_metrics_pkey PRIMARY KEY (id);


--
-- Name: prediction_errors prediction_errors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.prediction_errors
    ADD CONSTRAINT prediction_errors_pkey PRIMARY KEY (id);


--
-- Name: predictions predictions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.predictions
    ADD CONSTRAINT predictions_pkey PRIMARY KEY (prediction_id);


--
-- Name: promotion_decisions promotion_decisions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.promotion_decisions
    ADD CONSTRAINT promotion_decisions_pkey PRIMARY KEY (id);


--
-- Name: retrain_requests retrain_requests_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.retrain_requests
    ADD CONSTRAINT retrain_requests_pkey PRIMARY KEY (id);


--
-- Name: rollout_decisions rollout_decisions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollout_decisions
    ADD CONSTRAINT rollout_decisions_pkey PRIMARY KEY (id);


--
-- Name: rollouts rollouts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollouts
    ADD CONSTRAINT rollouts_pkey PRIMARY KEY (rollout_id);


--
-- Name: catalog_lineage uq_lineage_edge; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_lineage
    ADD CONSTRAINT uq_lineage_edge UNIQUE (source, relation, target);


--
-- Name: catalog_versions uq_version_number; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_versions
    ADD CONSTRAINT uq_version_number UNIQUE (dataset, version);


--
-- Name: catalog_versions uq_version_snapshot; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_versions
    ADD CONSTRAINT uq_version_snapshot UNIQUE (dataset, snapshot_id);


--
-- Name: ix_catalog_datasets_usecase; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_catalog_datasets_usecase ON public.catalog_datasets USING btree (usecase);


--
-- Name: ix_catalog_lineage_source; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_catalog_lineage_source ON public.catalog_lineage USING btree (source);


--
-- Name: ix_catalog_lineage_target; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_catalog_lineage_target ON public.catalog_lineage USING btree (target);


--
-- Name: ix_feedback_prediction_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_feedback_prediction_id ON public.feedback USING btree (prediction_id);


--
-- Name: ix_feedback_usecase_entity; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_feedback_usecase_entity ON public.feedback USING btree (usecase, entity_id);


--
-- Name: ix_monitoring_alerts_usecase; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_monitoring_alerts_usecase ON public.monitoring_alerts USING btree (usecase);


--
-- Name: ix_monitoring_metrics_series; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_monitoring_metrics_series ON public.monitoring_metrics USING btree (usecase, metric, run_date);


--
-- Name: ix_prediction_errors_rollout_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_prediction_errors_rollout_id ON public.prediction_errors USING btree (rollout_id);


--
-- Name: ix_predictions_rollout_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_predictions_rollout_id ON public.predictions USING btree (rollout_id);


--
-- Name: ix_predictions_usecase_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_predictions_usecase_created ON public.predictions USING btree (usecase, created_at);


--
-- Name: ix_predictions_usecase_entity; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_predictions_usecase_entity ON public.predictions USING btree (usecase, entity_id);


--
-- Name: ix_promotion_decisions_usecase; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_promotion_decisions_usecase ON public.promotion_decisions USING btree (usecase);


--
-- Name: ix_retrain_requests_usecase; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_retrain_requests_usecase ON public.retrain_requests USING btree (usecase);


--
-- Name: ix_rollout_decisions_rollout_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_rollout_decisions_rollout_id ON public.rollout_decisions USING btree (rollout_id);


--
-- Name: ix_rollouts_usecase; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_rollouts_usecase ON public.rollouts USING btree (usecase);


--
-- Name: catalog_versions catalog_versions_dataset_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalog_versions
    ADD CONSTRAINT catalog_versions_dataset_fkey FOREIGN KEY (dataset) REFERENCES public.catalog_datasets(name);


--
-- PostgreSQL database dump complete
--


