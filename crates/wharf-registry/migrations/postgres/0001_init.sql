-- The registry's metadata on PostgreSQL: the same tables as migrations/sqlite/0001_init.sql.
-- Differences: `manifests.content` is BYTEA (BLOB there), and every text column is
-- `COLLATE "C"` so tags and repositories page in byte order as they do in SQLite, and so no
-- comparison between two columns ever mixes collations. Times are seconds since the epoch.

CREATE TABLE repositories (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Every blob stored once per registry, by digest.
CREATE TABLE blobs (
    digest TEXT COLLATE "C" PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which repositories may serve which blobs (pushed there or mounted into them).
CREATE TABLE repository_blobs (
    repository TEXT COLLATE "C" NOT NULL REFERENCES repositories (name),
    digest TEXT COLLATE "C" NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

-- Manifests and indexes, as the exact bytes received.
CREATE TABLE manifests (
    repository TEXT COLLATE "C" NOT NULL REFERENCES repositories (name),
    digest TEXT COLLATE "C" NOT NULL,
    media_type TEXT COLLATE "C" NOT NULL,
    content BYTEA NOT NULL,
    subject TEXT COLLATE "C",
    artifact_type TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repository, subject);

CREATE TABLE tags (
    repository TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository, name),
    FOREIGN KEY (repository, digest) REFERENCES manifests (repository, digest)
);

-- Upload sessions: the bytes live in `uploads/<id>` under the shared root; `received` is
-- how many of them are acknowledged (a longer file is a crashed PATCH's tail, cut on resume).
CREATE TABLE uploads (
    id TEXT COLLATE "C" PRIMARY KEY,
    repository TEXT COLLATE "C" NOT NULL,
    received BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
