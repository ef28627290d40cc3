"""Table definitions at the head revision. Migrations in `migrations/versions` build them.

Runs have an integer surrogate key (`pk`) that child tables reference, next to the public
32-hex-digit `id`: integer keys keep the hot indexes small (twice the metric write rate of
text keys on SQLite). Timestamps are integer epoch milliseconds. A NaN metric value is stored
as NULL (SQLite cannot hold NaN), infinities as themselves; readers turn NULL back into NaN.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Id = sa.String(32)
Key = sa.String(250)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_pk(**kwargs: bool) -> sa.Column:
    fk = sa.ForeignKey("runs.pk", ondelete="CASCADE")
    return sa.Column("run_pk", sa.BigInteger, fk, **kwargs)


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", Id, nullable=False, unique=True),
    sa.Column("project_id", Id, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger),
    sa.Column("heartbeat_ms", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("user_name", sa.String(250)),
    sa.Column("parent_run_id", Id),
    sa.Column("code_commit", sa.String(64)),
    sa.Column("code_diff_digest", sa.String(64)),
    sa.Column("code_repo", sa.Text),
    sa.Column("python_version", sa.String(64)),
    sa.Column("env_digest", sa.String(64)),
    sa.Column("description", sa.Text),  # revision 0012
    sa.Column("deleted_ms", sa.BigInteger),  # revision 0012: soft-deleted at
    sa.Index("ix_runs_project_start", "project_id", "start_ms"),
    sa.Index("ix_runs_status_heartbeat", "status", "heartbeat_ms"),
    sa.Index("ix_runs_parent", "parent_run_id"),
    sa.Index("ix_runs_deleted", "deleted_ms"),
)

params = sa.Table(
    "params",
    metadata,
    _run_pk(primary_key=True),
    sa.Column("key", Key, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_params_key_value", "key", "value"),
)

tags = sa.Table(
    "tags",
    metadata,
    _run_pk(primary_key=True),
    sa.Column("key", Key, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_tags_key_value", "key", "value"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _run_pk(nullable=False),
    sa.Column("key", Key, nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_pk", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    _run_pk(primary_key=True),
    sa.Column("key", Key, primary_key=True),
    sa.Column("value", sa.Float(53)),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_with_rowid=False,
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    _run_pk(primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("serializer", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_run_artifacts_digest", "digest"),
)

# Revision 0002: what runs consume, and the audit trail.
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    _run_pk(primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("digest", sa.String(64)),
    sa.Index("ix_run_inputs_target", "kind", "name", "version"),
    sa.Index("ix_run_inputs_digest", "digest"),  # revision 0004
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(250), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(500), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_target_ts", "target", "ts_ms"),
)

# Revision 0003: datasets. `last_version` is bumped under a row lock to number versions.
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("dataset_pk", sa.BigInteger, sa.ForeignKey("datasets.pk"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("files", sa.BigInteger, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("schema", sa.JSON),
    sa.Column("profile_digest", sa.String(64)),
    sa.Column("producer_run_pk", sa.BigInteger, sa.ForeignKey("runs.pk")),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("dataset_pk", "version", name="uq_dataset_versions_version"),
    sa.Index("ix_dataset_versions_digest", "digest"),
    sa.Index("ix_dataset_versions_producer", "producer_run_pk"),
)

# Revision 0005: the model registry. `last_version` numbers versions as datasets do.
models = sa.Table(
    "models",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("model_pk", sa.BigInteger, sa.ForeignKey("models.pk"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(32), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("signature", sa.JSON),
    sa.Column("run_pk", sa.BigInteger, sa.ForeignKey("runs.pk")),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trusted_types", sa.JSON, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("model_pk", "version", name="uq_model_versions_version"),
    sa.Index("ix_model_versions_run", "run_pk"),
    sa.Index("ix_model_versions_digest", "digest"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_pk", sa.BigInteger, sa.ForeignKey("models.pk"), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

# Revision 0006: deployments (with every revision of their routes), predictions, labels.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(250), nullable=False, unique=True),
    sa.Column("routes", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

deployment_revisions = sa.Table(
    "deployment_revisions",
    metadata,
    sa.Column("deployment_pk", sa.BigInteger, sa.ForeignKey("deployments.pk"), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("routes", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(250), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("deployment", sa.String(250), nullable=False),
    sa.Column("model", sa.String(250), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("probabilities", sa.JSON),  # revision 0010: class -> probability, if any
    sa.Index("ix_predictions_deployment_ts", "deployment", "ts_ms"),
    sa.Index("ix_predictions_model_ts", "model", "version", "ts_ms"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("prediction_id", sa.String(32), primary_key=True),
    sa.Column("label", sa.JSON),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
)

# Revision 0007: monitoring reports, kept so trends can be plotted.
monitor_reports = sa.Table(
    "monitor_reports",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("dataset_drift", sa.Boolean, nullable=False),
    sa.Column("drift_share", sa.Float, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Index("ix_monitor_reports_target_ts", "target", "ts_ms"),
)

# Revision 0008: the continuous-training loop (state per deployment, timeline, leases) and
# failed model calls (for a canary's error rate).
loop_states = sa.Table(
    "loop_states",
    metadata,
    sa.Column("deployment", sa.String(250), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

loop_events = sa.Table(
    "loop_events",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("deployment", sa.String(250), nullable=False),
    sa.Column("cycle", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(32), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_loop_events_deployment", "deployment", "pk"),
)

loop_leases = sa.Table(
    "loop_leases",
    metadata,
    sa.Column("deployment", sa.String(250), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)

serving_failures = sa.Table(
    "serving_failures",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("deployment", sa.String(250), nullable=False),
    sa.Column("model", sa.String(250), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Index("ix_serving_failures_deployment_ts", "deployment", "ts_ms"),
)

# Revision 0009: users, their roles per project, API tokens (hashes only).
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("user", sa.String(100), primary_key=True),
    sa.Column("project", sa.String(250), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user", sa.String(100), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_ms", sa.BigInteger),
    sa.Column("note", sa.String(300)),
)

# Revision 0011: the server's idempotency keys (a hash of user and key), each bound to the
# digest of the call it came with; `result` is NULL while the first call runs.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("request_digest", sa.String(64), nullable=False),
    sa.Column("result", sa.Text),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("claimed_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_idempotency_keys_created", "created_ms"),
)
