-- Writers' application names ---------------------------------------------------

-- Application names of writers, by the id stored in each change row (_app); see application.c.
CREATE TABLE medallion.application (
	app_id	integer PRIMARY KEY,
	name	text NOT NULL
);
COMMENT ON TABLE medallion.application IS 'application_name of writing sessions, by the id change rows carry';
SELECT pg_catalog.pg_extension_config_dump('medallion.application', '');
GRANT SELECT ON medallion.application TO PUBLIC;
COMMENT ON COLUMN medallion.application.app_id IS
	'The id change rows carry in _app (0: the writer had no application_name)';
COMMENT ON COLUMN medallion.application.name IS 'The application_name of the writing session';
