-- Runs once, when the PostgreSQL volume is first initialised: the serving decision log gets
-- its own database beside MLflow's (POSTGRES_DB). The log creates its tables itself.
CREATE DATABASE decisions OWNER alpharl;
