-- Run once by the postgres image's entrypoint, on the first start with an
-- empty data volume (mounted into /docker-entrypoint-initdb.d by
-- docker-compose.yml). It runs as POSTGRES_USER (pingyi), who therefore owns
-- the three databases. Each service keeps its own database: they share
-- nothing but the Kafka topics.
--
-- Later changes to this file do not reach an existing volume; schema changes
-- belong in each service's Alembic migrations (`pingyi migrate`).

CREATE DATABASE voting   WITH ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE scoring  WITH ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE tracking WITH ENCODING 'UTF8' TEMPLATE template0;

-- Only the owner connects; nobody else gets CONNECT through PUBLIC.
REVOKE CONNECT ON DATABASE voting   FROM PUBLIC;
REVOKE CONNECT ON DATABASE scoring  FROM PUBLIC;
REVOKE CONNECT ON DATABASE tracking FROM PUBLIC;
