--
-- PostgreSQL database dump
--

\restrict 4JEIFDePVqdSxQI2qyUg4GX2eANIQW1M5M8UIGca7hJP6NIGS47SBdngDSROA4J

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

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

--
-- Name: mes; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA mes;


ALTER SCHEMA mes OWNER TO postgres;

--
-- Name: pgcrypto; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;


--
-- Name: EXTENSION pgcrypto; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION pgcrypto IS 'cryptographic functions';


--
-- Name: order_status; Type: TYPE; Schema: mes; Owner: postgres
--

CREATE TYPE mes.order_status AS ENUM (
    'planned',
    'released',
    'running',
    'done',
    'cancelled'
);


ALTER TYPE mes.order_status OWNER TO postgres;

--
-- Name: touch_updated_at(); Type: FUNCTION; Schema: mes; Owner: postgres
--

CREATE FUNCTION mes.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;


ALTER FUNCTION mes.touch_updated_at() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: labels; Type: TABLE; Schema: mes; Owner: postgres
--

CREATE TABLE mes.labels (
    id bigint NOT NULL,
    work_order_id bigint NOT NULL,
    serial text NOT NULL,
    printed_at timestamp with time zone,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL
);


ALTER TABLE mes.labels OWNER TO postgres;

--
-- Name: TABLE labels; Type: COMMENT; Schema: mes; Owner: postgres
--

COMMENT ON TABLE mes.labels IS 'Printed product labels; one per serial.';


--
-- Name: labels_id_seq; Type: SEQUENCE; Schema: mes; Owner: postgres
--

CREATE SEQUENCE mes.labels_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE mes.labels_id_seq OWNER TO postgres;

--
-- Name: labels_id_seq; Type: SEQUENCE OWNED BY; Schema: mes; Owner: postgres
--

ALTER SEQUENCE mes.labels_id_seq OWNED BY mes.labels.id;


--
-- Name: production_lines; Type: TABLE; Schema: mes; Owner: postgres
--

CREATE TABLE mes.production_lines (
    id integer NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    plant text DEFAULT 'PLANT-1'::text NOT NULL,
    active boolean DEFAULT true NOT NULL
);


ALTER TABLE mes.production_lines OWNER TO postgres;

--
-- Name: work_orders; Type: TABLE; Schema: mes; Owner: postgres
--

CREATE TABLE mes.work_orders (
    id bigint NOT NULL,
    order_id bigint,
    line_id integer NOT NULL,
    status mes.order_status DEFAULT 'planned'::mes.order_status NOT NULL,
    planned_start timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE mes.work_orders OWNER TO postgres;

--
-- Name: open_work_orders; Type: VIEW; Schema: mes; Owner: postgres
--

CREATE VIEW mes.open_work_orders AS
 SELECT w.id,
    l.code AS line,
    w.status
   FROM (mes.work_orders w
     JOIN mes.production_lines l ON ((l.id = w.line_id)))
  WHERE (w.status = ANY (ARRAY['planned'::mes.order_status, 'released'::mes.order_status, 'running'::mes.order_status]));


ALTER TABLE mes.open_work_orders OWNER TO postgres;

--
-- Name: production_lines_id_seq; Type: SEQUENCE; Schema: mes; Owner: postgres
--

CREATE SEQUENCE mes.production_lines_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE mes.production_lines_id_seq OWNER TO postgres;

--
-- Name: production_lines_id_seq; Type: SEQUENCE OWNED BY; Schema: mes; Owner: postgres
--

ALTER SEQUENCE mes.production_lines_id_seq OWNED BY mes.production_lines.id;


--
-- Name: work_orders_id_seq; Type: SEQUENCE; Schema: mes; Owner: postgres
--

CREATE SEQUENCE mes.work_orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE mes.work_orders_id_seq OWNER TO postgres;

--
-- Name: work_orders_id_seq; Type: SEQUENCE OWNED BY; Schema: mes; Owner: postgres
--

ALTER SEQUENCE mes.work_orders_id_seq OWNED BY mes.work_orders.id;


--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL
);


ALTER TABLE public.audit_log OWNER TO postgres;

--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.audit_log_id_seq OWNER TO postgres;

--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;


--
-- Name: customers; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.customers (
    id bigint NOT NULL,
    name text NOT NULL,
    country character(2) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT customers_country_check CHECK ((country ~ '^[A-Z]{2}$'::text))
);


ALTER TABLE public.customers OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.customers ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: orders; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id bigint NOT NULL,
    reference text NOT NULL,
    quantity numeric(12,3) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT orders_quantity_check CHECK ((quantity > (0)::numeric))
);


ALTER TABLE public.orders OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.orders_id_seq OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;


--
-- Name: labels id; Type: DEFAULT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.labels ALTER COLUMN id SET DEFAULT nextval('mes.labels_id_seq'::regclass);


--
-- Name: production_lines id; Type: DEFAULT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.production_lines ALTER COLUMN id SET DEFAULT nextval('mes.production_lines_id_seq'::regclass);


--
-- Name: work_orders id; Type: DEFAULT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.work_orders ALTER COLUMN id SET DEFAULT nextval('mes.work_orders_id_seq'::regclass);


--
-- Name: audit_log id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);


--
-- Name: orders id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);


--
-- Data for Name: labels; Type: TABLE DATA; Schema: mes; Owner: postgres
--

COPY mes.labels (id, work_order_id, serial, printed_at, payload) FROM stdin;
1	1	SN-0001	\N	{}
2	1	SN-0002	\N	{}
\.


--
-- Data for Name: production_lines; Type: TABLE DATA; Schema: mes; Owner: postgres
--

COPY mes.production_lines (id, code, name, plant, active) FROM stdin;
1	L1	Assembly 1	PLANT-1	t
2	L2	Assembly 2	PLANT-1	t
3	PK	Packing	PLANT-1	t
\.


--
-- Data for Name: work_orders; Type: TABLE DATA; Schema: mes; Owner: postgres
--

COPY mes.work_orders (id, order_id, line_id, status, planned_start, updated_at) FROM stdin;
1	1	1	released	\N	2026-11-23 02:31:52.622235+00
2	2	2	planned	\N	2026-11-23 02:31:52.622235+00
3	\N	3	done	\N	2026-11-23 02:31:52.622235+00
\.


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.audit_log (id, at, actor, action) FROM stdin;
1	2026-11-23 02:31:52.622235+00	system	seeded
\.


--
-- Data for Name: customers; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.customers (id, name, country, created_at) FROM stdin;
1	Acme GmbH	DE	2026-11-23 02:31:52.622235+00
2	Bolt SA	FR	2026-11-23 02:31:52.622235+00
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.orders (id, customer_id, reference, quantity, created_at) FROM stdin;
1	1	SO-1001	100.000	2026-11-23 02:31:52.622235+00
2	2	SO-1002	250.500	2026-11-23 02:31:52.622235+00
\.


--
-- Name: labels_id_seq; Type: SEQUENCE SET; Schema: mes; Owner: postgres
--

SELECT pg_catalog.setval('mes.labels_id_seq', 2, true);


--
-- Name: production_lines_id_seq; Type: SEQUENCE SET; Schema: mes; Owner: postgres
--

SELECT pg_catalog.setval('mes.production_lines_id_seq', 3, true);


--
-- Name: work_orders_id_seq; Type: SEQUENCE SET; Schema: mes; Owner: postgres
--

SELECT pg_catalog.setval('mes.work_orders_id_seq', 3, true);


--
-- Name: audit_log_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.audit_log_id_seq', 1, true);


--
-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.customers_id_seq', 2, true);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.orders_id_seq', 2, true);


--
-- Name: labels labels_pkey; Type: CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.labels
    ADD CONSTRAINT labels_pkey PRIMARY KEY (id);


--
-- Name: production_lines production_lines_code_key; Type: CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.production_lines
    ADD CONSTRAINT production_lines_code_key UNIQUE (code);


--
-- Name: production_lines production_lines_pkey; Type: CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.production_lines
    ADD CONSTRAINT production_lines_pkey PRIMARY KEY (id);


--
-- Name: work_orders work_orders_pkey; Type: CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.work_orders
    ADD CONSTRAINT work_orders_pkey PRIMARY KEY (id);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: orders orders_reference_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_reference_key UNIQUE (reference);


--
-- Name: ix_work_orders_line_status; Type: INDEX; Schema: mes; Owner: postgres
--

CREATE INDEX ix_work_orders_line_status ON mes.work_orders USING btree (line_id, status) WHERE (status <> 'done'::mes.order_status);


--
-- Name: ux_labels_serial; Type: INDEX; Schema: mes; Owner: postgres
--

CREATE UNIQUE INDEX ux_labels_serial ON mes.labels USING btree (serial);


--
-- Name: ix_orders_created; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX ix_orders_created ON public.orders USING btree (created_at);


--
-- Name: work_orders trg_work_orders_touch; Type: TRIGGER; Schema: mes; Owner: postgres
--

CREATE TRIGGER trg_work_orders_touch BEFORE UPDATE ON mes.work_orders FOR EACH ROW EXECUTE FUNCTION mes.touch_updated_at();


--
-- Name: labels labels_work_order_id_fkey; Type: FK CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.labels
    ADD CONSTRAINT labels_work_order_id_fkey FOREIGN KEY (work_order_id) REFERENCES mes.work_orders(id) ON DELETE CASCADE;


--
-- Name: work_orders work_orders_line_id_fkey; Type: FK CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.work_orders
    ADD CONSTRAINT work_orders_line_id_fkey FOREIGN KEY (line_id) REFERENCES mes.production_lines(id);


--
-- Name: work_orders work_orders_order_id_fkey; Type: FK CONSTRAINT; Schema: mes; Owner: postgres
--

ALTER TABLE ONLY mes.work_orders
    ADD CONSTRAINT work_orders_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

\unrestrict 4JEIFDePVqdSxQI2qyUg4GX2eANIQW1M5M8UIGca7hJP6NIGS47SBdngDSROA4J

