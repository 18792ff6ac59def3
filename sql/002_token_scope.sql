-- Read-only admin tokens: 'read' allows GET (get, list, watch, metrics, debug);
-- 'full' allows every verb. Tokens made before this migration keep full rights.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read'));
