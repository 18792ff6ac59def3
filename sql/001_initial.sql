-- The object store: every stored object, keyed by kind, namespace and name, as
-- its full JSON. resource_version is the global version of the last write.
CREATE TABLE objects (
    kind             TEXT    NOT NULL,
    namespace        TEXT    NOT NULL DEFAULT '',
    name             TEXT    NOT NULL,
    uid              TEXT    NOT NULL,
    resource_version INTEGER NOT NULL,
    body             TEXT    NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;

-- The watch log: one row per write, in resourceVersion order. Old rows are
-- trimmed; a watch resuming from before the oldest row gets 410 Expired.
CREATE TABLE events (
    resource_version INTEGER PRIMARY KEY,
    type             TEXT    NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
    kind             TEXT    NOT NULL,
    namespace        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    body             TEXT    NOT NULL
);
CREATE INDEX events_kind ON events (kind, resource_version);

-- Small named values: the global resourceVersion counter lives here.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('resource_version', 0);

-- Admin API bearer tokens, stored as SHA-256 hashes; the token itself is shown
-- once, when it is created.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
