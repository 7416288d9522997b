"""Names shared by the whole registry: stages, transitions, actions and roles."""

from django.db import models


class Stage(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"
    ROLLED_BACK = "rolled_back", "Rolled back"
    DEPRECATED = "deprecated", "Deprecated"


class Transition(models.TextChoices):
    """The lifecycle transitions, by the name users and the API give them."""

    PROMOTE = "promote", "Promote"
    ARCHIVE = "archive", "Archive"
    ROLLBACK = "rollback", "Roll back"
    DEPRECATE = "deprecate", "Deprecate"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class Action(models.TextChoices):
    """What an audit event records; the names double as the event types."""

    TEAM_CREATED = "team.created", "Team created"
    TEAM_CHANGED = "team.changed", "Team changed"
    MEMBER_ADDED = "team.member_added", "Team member added"
    MEMBER_REMOVED = "team.member_removed", "Team member removed"
    MODEL_CREATED = "model.created", "Model created"
    MODEL_CHANGED = "model.changed", "Model changed"
    MODEL_RENAMED = "model.renamed", "Model renamed"
    VERSION_REGISTERED = "version.registered", "Version registered"
    VERSION_CHANGED = "version.changed", "Version changed"
    VERSION_PROMOTED = "version.promoted", "Version promoted"
    VERSION_ARCHIVED = "version.archived", "Version archived"
    VERSION_ROLLED_BACK = "version.rolled_back", "Version rolled back"
    VERSION_RESTORED = "version.restored", "Version restored by rollback"
    VERSION_DEPRECATED = "version.deprecated", "Version deprecated"
    ARTIFACT_STORED = "version.artifact_stored", "Artifact stored"
    CARD_EDITED = "card.edited", "Model card edited"
    REVIEW_REQUESTED = "review.requested", "Review requested"
    REVIEW_SUBMITTED = "review.submitted", "Review submitted"
    POLICY_CHANGED = "policy.changed", "Policy changed"
    # Written by the MLflow-compatible door (mlflow_app) and the webhooks app.
    MODEL_DELETED = "model.deleted", "Model deleted (hidden from the MLflow door)"
    VERSION_DELETED = "version.deleted", "Version deleted (hidden from the MLflow door)"
    ALIAS_SET = "alias.set", "Alias set"
    ALIAS_DELETED = "alias.deleted", "Alias deleted"
    WEBHOOK_CREATED = "webhook.created", "Webhook subscription created"
    WEBHOOK_CHANGED = "webhook.changed", "Webhook subscription changed"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook secret rotated"
    WEBHOOK_REDELIVERED = "webhook.redelivered", "Webhook delivery redelivered"
    # Changes of rights, whichever door made them (models_app.accounts).
    USER_CREATED = "user.created", "User created"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_REACTIVATED = "user.reactivated", "User reactivated"
    USER_STATUS_CHANGED = "user.status_changed", "Staff or superuser status changed"
    USER_GROUPS_CHANGED = "user.groups_changed", "User's roles (groups) changed"
    USER_PERMISSIONS_CHANGED = "user.permissions_changed", "User's permissions changed"
    GROUP_PERMISSIONS_CHANGED = "group.permissions_changed", "Role (group) permissions changed"
    GROUP_DELETED = "group.deleted", "Role (group) deleted"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    # Production health: a monitoring system reported a signal on a version, or an alert
    # that had opened one was resolved.
    SIGNAL_RECEIVED = "signal.received", "Health signal received"
    SIGNAL_RESOLVED = "signal.resolved", "Health signal resolved"
    # Central registry: an admin gave a team registry's origin to another service user.
    ORIGIN_REBOUND = "origin.rebound", "Origin re-bound to another service user"


# The actions of health signals: many (a monitoring system may post every minute), so the
# pages' lists of recent changes leave them out (the health panels show the signals), each
# read through an index that holds no signal events.
SIGNAL_ACTIONS = (Action.SIGNAL_RECEIVED.value, Action.SIGNAL_RESOLVED.value)


class Role(models.TextChoices):
    """The role groups, created by a migration with their permissions."""

    VIEWER = "viewer", "Viewer"
    CONTRIBUTOR = "contributor", "Contributor"
    REVIEWER = "reviewer", "Reviewer"
    RELEASE_MANAGER = "release_manager", "Release manager"
    SIGNAL_REPORTER = "signal_reporter", "Signal reporter"
