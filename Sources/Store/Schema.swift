// The store's SQL schema as an append-only list of migrations; `PRAGMA user_version` counts those applied.

/// Migration `i` takes a database from `user_version` i to i + 1. Never edit a shipped entry: databases in the
/// field were built from it. Change the schema by appending a script, and re-record the schema snapshot.
let migrations: [String] = [
    // 1: the first schema. STRICT so a wrongly typed value is an error rather than silently stored as text.
    // Every child table leads with run_id in a key or index, so loading one run and cascading a delete never scan.
    """
    CREATE TABLE runs (
        id               TEXT PRIMARY KEY NOT NULL,
        name             TEXT NOT NULL,
        spec_path        TEXT NOT NULL,
        spec_sha256      TEXT NOT NULL,
        spec_text        TEXT NOT NULL,
        seed             INTEGER NOT NULL,
        auditor_version  TEXT NOT NULL,
        machine          TEXT NOT NULL,
        host             TEXT NOT NULL,
        pid              INTEGER NOT NULL,
        started_at       TEXT NOT NULL,
        finished_at      TEXT,
        duration_seconds REAL,
        status           TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'passed', 'breached', 'interrupted', 'failed')),
        verdict          TEXT,
        options_json     TEXT NOT NULL DEFAULT '{}'
    ) STRICT;
    CREATE INDEX runs_by_started_at ON runs (started_at, id);
    CREATE INDEX runs_running_by_host ON runs (host) WHERE status = 'running';

    CREATE TABLE checkpoints (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        role             TEXT NOT NULL,
        path             TEXT NOT NULL,
        format           TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        files_json       TEXT NOT NULL,
        tokenizer_sha256 TEXT NOT NULL,
        architecture     TEXT NOT NULL,
        parameters       INTEGER NOT NULL,
        context_length   INTEGER NOT NULL,
        UNIQUE (run_id, role)
    ) STRICT;

    CREATE TABLE datasets (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        role             TEXT NOT NULL,
        path             TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        texts            INTEGER NOT NULL,
        UNIQUE (run_id, role)
    ) STRICT;

    CREATE TABLE steps (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name             TEXT NOT NULL,
        finished_at      TEXT NOT NULL,
        seconds          REAL NOT NULL,
        PRIMARY KEY (run_id, name)
    ) STRICT;

    CREATE TABLE metrics (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step             TEXT NOT NULL,
        key              TEXT NOT NULL,
        value            REAL NOT NULL,
        lower            REAL,
        upper            REAL,
        n                INTEGER,
        method           TEXT NOT NULL,
        label            TEXT NOT NULL,
        UNIQUE (run_id, key)
    ) STRICT;

    CREATE TABLE scores (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        checkpoint       TEXT NOT NULL,
        dataset          TEXT NOT NULL,
        text_index       INTEGER NOT NULL CHECK (text_index >= 0),
        attack           TEXT NOT NULL,
        score            REAL NOT NULL,
        PRIMARY KEY (run_id, checkpoint, dataset, text_index, attack)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE findings (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step             TEXT NOT NULL,
        kind             TEXT NOT NULL,
        dataset          TEXT NOT NULL,
        item_index       INTEGER NOT NULL,
        item_id          TEXT,
        secret           TEXT,
        numbers_json     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX findings_by_run ON findings (run_id);

    CREATE TABLE checks (
        run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        expression       TEXT NOT NULL,
        metric           TEXT NOT NULL,
        op               TEXT NOT NULL CHECK (op IN ('<=', '<', '>=', '>', '==')),
        threshold        REAL NOT NULL,
        value            REAL,
        lower            REAL,
        upper            REAL,
        passed           INTEGER NOT NULL CHECK (passed IN (0, 1)),
        message          TEXT NOT NULL
    ) STRICT;
    CREATE INDEX checks_by_run ON checks (run_id);
    """,
]
