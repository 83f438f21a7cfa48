-- The registry's metadata. Written in the SQL that SQLite and PostgreSQL share; the only
-- per-database difference is the type of `manifests.content` (BLOB here, BYTEA there) and
-- that PostgreSQL's text columns that are sorted for paging need `COLLATE "C"`.
-- No surrogate keys: names and digests are the keys, so no AUTOINCREMENT/SERIAL.

CREATE TABLE repositories (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Every blob stored once per registry, by digest.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which repositories may serve which blobs (pushed there or mounted into them).
CREATE TABLE repository_blobs (
    repository TEXT NOT NULL REFERENCES repositories (name),
    digest TEXT NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

-- Manifests and indexes, as the exact bytes received.
CREATE TABLE manifests (
    repository TEXT NOT NULL REFERENCES repositories (name),
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    content BLOB NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

CREATE TABLE tags (
    repository TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository, name),
    FOREIGN KEY (repository, digest) REFERENCES manifests (repository, digest)
);

-- Upload sessions: the bytes live in `uploads/<id>` beside the blob store; `received` is
-- how many of them are acknowledged (a longer file is a crashed PATCH's tail, cut on resume).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    received BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
