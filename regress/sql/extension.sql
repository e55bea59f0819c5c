--
-- extension: installing phantom, its catalog objects and its settings
--
CREATE EXTENSION phantom;
SELECT amname, amtype FROM pg_am WHERE amname = 'phantom';
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'phantom%' ORDER BY 1;
-- every setting is reserved under the phantom. prefix
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('phantom.insert_lanes', 'phantom.compression_level') ORDER BY 1;
SET phantom.no_such_setting = 1;
-- the internal schema is closed to PUBLIC
SELECT has_schema_privilege('public', 'phantom_internal', 'USAGE');
