"""`manage.py seed_demo`: the demo registry, built through the services.

Teams, users, three models with versions in every stage, filled-in model cards, reviews,
promotions, a rollback and a deprecation. Every registry write goes through
models_app.services and approvals_app.services, so the demo carries the same history and
audit events real use would leave. Users and their role groups are Django auth objects,
not registry objects, so they are made with the auth API directly.

Idempotent: each model is built in one transaction and skipped when it already exists;
teams, members, users and the site policy are made only when missing. A second run
changes nothing and writes no audit rows. Refused with DEBUG off unless --force, because
the demo users have well-known passwords.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from approvals_app import selectors as approval_selectors
from approvals_app import services as approvals
from approvals_app.models import Decision
from models_app import services
from models_app.context import reset_request_id, set_request_id
from models_app.enums import Role
from models_app.models import PromotionPolicy, RegisteredModel, Team

# Where the printed logins point by default; `make run` passes the address it serves.
URL = "http://127.0.0.1:8000/"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str  # a Role value, or "admin" for the superuser
    team: str | None = None
    first_name: str = ""
    last_name: str = ""

    @property
    def password(self) -> str:
        return f"demo-{self.username}"

    @property
    def role_label(self) -> str:
        if self.role == "admin":
            return "admin (superuser)"
        label = Role(self.role).label.lower()
        return f"{label} ({self.team})" if self.team else label


USERS = [
    DemoUser("admin", "admin", first_name="Ada", last_name="Admin"),
    DemoUser("ds_fraud", Role.CONTRIBUTOR, "fraud", "Farah", "Okafor"),
    DemoUser("ds_pricing", Role.CONTRIBUTOR, "pricing", "Pedro", "Lindqvist"),
    DemoUser("reviewer1", Role.REVIEWER, first_name="Rita", last_name="Moreau"),
    DemoUser("reviewer2", Role.REVIEWER, first_name="Ravi", last_name="Chandran"),
    DemoUser("release_mgr", Role.RELEASE_MANAGER, first_name="Lena", last_name="Novak"),
]

TEAMS = [
    ("fraud", "Fraud", "Card-payment fraud scoring for the checkout and the chargeback desk."),
    ("pricing", "Pricing", "Basket pricing, discount optimisation and customer-value forecasts."),
]


def _sha256(*parts: str) -> str:
    """A stable stand-in checksum, so that a re-seeded demo shows the same values."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _git_sha(*parts: str) -> str:
    return _sha256("git", *parts)[:40]


# --- Model cards ------------------------------------------------------------------------


def fraud_card(version: str, *, auc: float, f1: float, latency: float, extra: str = "") -> dict:
    return {
        "intended_use": (
            "Scores every card-not-present payment at checkout with the probability that it "
            "is fraudulent. Scores above **0.85** send the payment to step-up "
            "authentication (3-D Secure); scores above **0.97** block it and open a case "
            "for the chargeback desk.\n\n"
            "- **Users:** the payments service (online, p99 budget 50 ms) and the fraud "
            "analysts' case tool.\n"
            "- **Out of scope:** in-store (card-present) payments, account-takeover "
            "detection, and any decision about a customer's credit."
        ),
        "training_data": (
            "Eighteen months of card-not-present payments (about 410 million rows) with "
            "chargeback labels matured for 90 days, from `s3://datasets/fraud/`.\n\n"
            "| split | period | rows | fraud rate |\n"
            "|---|---|---|---|\n"
            "| train | 2025-03 → 2026-05 | 342 M | 0.21 % |\n"
            "| validation | 2026-06 → 2026-07 | 41 M | 0.19 % |\n"
            "| test | 2026-08 → 2026-09 | 27 M | 0.22 % |\n\n"
            "Personal data is pseudonymised before training; card numbers never leave the "
            "tokenisation vault."
        ),
        "evaluation": (
            f"Version {version} on the held-out test months, at the production operating "
            "point:\n\n"
            f"- ROC AUC **{auc}**, F1 **{f1}** at the 0.85 threshold\n"
            f"- p99 latency **{latency} ms** on the c6i.xlarge serving fleet\n"
            "- Calibration checked per merchant category; the worst category (digital "
            "goods) is within 2 points of the mean.\n" + (f"\n{extra}\n" if extra else "")
        ),
        "limitations": (
            "- Recall drops for merchants with fewer than 500 payments a month, where the "
            "merchant-history features are sparse.\n"
            "- New fraud patterns show up in labels only after chargebacks mature (up to 90 "
            "days), so the model lags new attacks; the rule engine covers that gap.\n"
            "- Not validated for currencies other than EUR, GBP, SEK and USD."
        ),
        "ethical_considerations": (
            "False positives delay legitimate customers and fall unevenly: we monitor the "
            "step-up rate by country of card issue and by customer age band, and alert when "
            "any group's rate exceeds 1.5× the overall rate. The model uses no protected "
            "attributes; postcode is reduced to region to limit proxy effects. Every block "
            "can be appealed through customer support and reviewed by an analyst."
        ),
    }


def pricing_card(version: str, *, rmse: float, mape: float, extra: str = "") -> dict:
    return {
        "intended_use": (
            "Recommends the discount (0–30 %) for each basket in the web shop's promotion "
            "slots to maximise expected margin, predicting demand at each candidate price.\n\n"
            "Used by the promotions service in batch every 15 minutes. Not for list prices, "
            "which the category managers set."
        ),
        "training_data": (
            "Two years of basket-level sales with the shown price, discount, stock level and "
            "calendar features, from `s3://datasets/pricing/`. Holiday weeks are "
            "up-weighted; clearance sales are excluded because their demand is not "
            "price-driven."
        ),
        "evaluation": (
            f"Version {version} on a 6-week back-test:\n\n"
            "| metric | value |\n|---|---|\n"
            f"| RMSE (units / basket) | {rmse} |\n"
            f"| MAPE | {mape:.1%} |\n\n"
            "Back-tested margin uplift against the rule-based discounts: +3.1 %."
            + (f"\n\n{extra}" if extra else "")
        ),
        "limitations": (
            "Extrapolates poorly to discounts outside the range seen in training (above "
            "30 %). Weekend demand is under-represented in the last quarter of data."
        ),
        "ethical_considerations": (
            "Prices never depend on who the customer is: the model sees the basket, not "
            "the person, so no personalised pricing. Discounts are capped by the "
            "promotions service regardless of the model's output."
        ),
    }


CHURN_CARD_DRAFT = {
    "intended_use": (
        "Forecasts, per subscriber, the probability of cancelling within the next 60 days, "
        "so that the retention team can plan outreach. Weekly batch only."
    ),
    "training_data": (
        "Subscription events and support tickets from 2024-01 to 2026-09, "
        "`s3://datasets/churn/2026-10-01`."
    ),
    "evaluation": "Work in progress: back-test on Q3 2026 pending.",
}


class OneRequestPerCall:
    """A services module whose every call runs under a request id of its own, as each step
    would through the dashboard or the API: the audit log shows each step (a promotion's
    archived and promoted events) as one entry, not the whole seed as one."""

    def __init__(self, module, run: str, counter: list[int]) -> None:
        self._module, self._run, self._counter = module, run, counter

    def __getattr__(self, name: str):
        service = getattr(self._module, name)
        if not callable(service):
            return service

        def call(*args, **kwargs):
            self._counter[0] += 1
            token = set_request_id(f"{self._run}-{self._counter[0]:03d}")
            try:
                return service(*args, **kwargs)
            finally:
                reset_request_id(token)

        return call


# --- The command --------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Fill the registry with demo teams, users, models, versions, cards and reviews "
        "(idempotent; refused with DEBUG off unless --force)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. The demo users have published passwords.",
        )
        parser.add_argument(
            "--url",
            default=URL,
            help=f"The dashboard's address to print with the logins (default {URL}).",
        )

    def handle(self, *args, force: bool = False, url: str = URL, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo is refused with DEBUG off: it creates users with published "
                "passwords (demo-<username>). Run it on a development machine with DEBUG=1, "
                "or pass --force if you really want demo data here."
            )
        # Request ids name the run (seed-demo-<run>), and each step its own within it
        # (seed-demo-<run>-<step>), so that the audit log groups a step's rows.
        run = f"seed-demo-{uuid.uuid4().hex[:12]}"
        counter = [0]
        self.services = OneRequestPerCall(services, run, counter)
        self.approvals = OneRequestPerCall(approvals, run, counter)
        token = set_request_id(run)
        try:
            created = self.seed()
        finally:
            reset_request_id(token)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Seeded: {', '.join(created)}."))
        else:
            self.stdout.write("The demo data is already in place; nothing changed.")
        self.print_logins(url if url.endswith("/") else url + "/")

    # --- Steps ------------------------------------------------------------------------

    def seed(self) -> list[str]:
        created: list[str] = []
        with transaction.atomic():
            users = self.ensure_users(created)
            admin = users["admin"]
            teams = self.ensure_teams(admin, users, created)
            if not PromotionPolicy.objects.filter(is_site_default=True).exists():
                self.services.policy_update(
                    actor=admin,
                    model=None,
                    required_approvals=1,
                    required_card_sections=list(PromotionPolicy.DEFAULT_SECTIONS),
                    reason="Site default: one independent approval and a complete model card.",
                )
                created.append("site default policy")
        for name, build in (
            ("fraud_detector", self.build_fraud_detector),
            ("price_optimizer", self.build_price_optimizer),
            ("churn_forecaster", self.build_churn_forecaster),
        ):
            if RegisteredModel.objects.filter(name=name).exists():
                continue
            # One transaction per model: a failure leaves no half-built model behind, and
            # the next run builds it from scratch.
            with transaction.atomic():
                build(users, teams)
            created.append(name)
        return created

    def ensure_users(self, created: list[str]) -> dict:
        User = get_user_model()
        users = {}
        for spec in USERS:
            user = User.objects.filter(username=spec.username).first()
            if user is None:
                user = User(
                    username=spec.username,
                    first_name=spec.first_name,
                    last_name=spec.last_name,
                    email=f"{spec.username}@example.com",
                )
                created.append(f"user {spec.username}")
            is_admin = spec.role == "admin"
            # Only save what differs, so that a second run leaves the rows untouched.
            dirty = user.pk is None
            if is_admin and not (user.is_superuser and user.is_staff):
                user.is_superuser = user.is_staff = True
                dirty = True
            if not user.is_active:
                user.is_active = True
                dirty = True
            if user.pk is None or not user.check_password(spec.password):
                user.set_password(spec.password)
                dirty = True
            if dirty:
                user.save()
            if not is_admin:
                user.groups.add(Group.objects.get(name=spec.role))
            users[spec.username] = user
        return users

    def ensure_teams(self, admin, users: dict, created: list[str]) -> dict:
        teams = {}
        for slug, name, description in TEAMS:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                team = self.services.team_create(
                    actor=admin, name=name, slug=slug, description=description
                )
                created.append(f"team {slug}")
            teams[slug] = team
        for spec in USERS:
            if spec.team:
                # team_member_add returns the existing membership without a new audit row.
                self.services.team_member_add(
                    actor=admin, team=teams[spec.team], user=users[spec.username]
                )
        return teams

    # --- fraud_detector: a long production history and a version awaiting review ---------

    def build_fraud_detector(self, users: dict, teams: dict) -> None:
        ds, r1, r2, rm, admin = (
            users["ds_fraud"],
            users["reviewer1"],
            users["reviewer2"],
            users["release_mgr"],
            users["admin"],
        )
        model = self.services.registered_model_create(
            actor=ds,
            name="fraud_detector",
            team=teams["fraud"],
            description=(
                "Gradient-boosted trees scoring card-not-present payments for fraud at "
                "checkout. Serving polls the production version every minute."
            ),
            tags={"domain": "payments", "framework": "xgboost", "oncall": "fraud-ml"},
        )
        self.services.policy_update(
            actor=admin,
            model=model,
            thresholds=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}],
            key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0.01}],
            required_approvals=1,
            reason=(
                "Checkout budget is 50 ms at p99; F1 may not drop by more than 0.01 against "
                "production (fraud-risk committee, 2026-02)."
            ),
        )

        def register(version: str, metrics: dict, data: str, run: str, **extra):
            return self.services.model_version_register(
                actor=ds,
                model=model,
                version=version,
                metrics=metrics,
                params=extra.pop(
                    "params",
                    {"n_estimators": 600, "max_depth": 8, "learning_rate": 0.05},
                ),
                artifact_uri=f"s3://ml-artifacts/fraud/fraud_detector/{version}/model.tar.gz",
                artifact_sha256=_sha256("fraud_detector", version),
                artifact_size=extra.pop("size", 48_213_504),
                data_version=f"s3://datasets/fraud/{data}",
                code_version=_git_sha("fraud", version),
                source_run=run,
                **extra,
            )

        def approve(mv, reviewer, comment: str) -> None:
            self.approvals.review_submit(
                actor=reviewer,
                version=mv,
                decision=Decision.APPROVE,
                comment=comment,
                revision_sha256=approval_selectors.card_for(mv).current_revision.sha256,
            )

        # 1.0.0: the first production model.
        v100 = register(
            "1.0.0",
            {"accuracy": 0.912, "f1": 0.842, "auc": 0.951, "latency_ms": 41.0},
            "2026-01-15",
            "mlflow-run-3f9c2a71",
            description="First model to replace the rule engine's score.",
            params={"n_estimators": 400, "max_depth": 6, "learning_rate": 0.08},
        )
        self.approvals.card_update(
            actor=ds,
            version=v100,
            sections=fraud_card("1.0.0", auc=0.951, f1=0.842, latency=41),
            reason="First card.",
        )
        self.approvals.review_request(
            actor=ds, version=v100, reason="First candidate for production."
        )
        approve(v100, r1, "Solid baseline; shadow run matched offline numbers.")
        self.services.model_version_promote(
            actor=rm,
            version=v100,
            reason="Replaces the rule-engine score after four weeks of shadow traffic.",
        )

        # 1.5.0-rc.1: an experiment that never shipped.
        v15rc = register(
            "1.5.0-rc.1",
            {"accuracy": 0.918, "f1": 0.851, "auc": 0.955, "latency_ms": 87.0},
            "2026-03-01",
            "mlflow-run-8d41e0bc",
            description="Experiment: graph features from the merchant–card network.",
            params={"n_estimators": 800, "max_depth": 10, "graph_features": True},
        )
        self.services.model_version_deprecate(
            actor=rm,
            version=v15rc,
            reason="Graph features cost 87 ms at p99, above the 50 ms budget; line abandoned.",
        )

        # 2.0.0: a new feature set; reviewed in two rounds, then promoted.
        v200 = register(
            "2.0.0",
            {"accuracy": 0.927, "f1": 0.866, "auc": 0.962, "latency_ms": 38.0},
            "2026-06-01",
            "mlflow-run-a12be904",
            description="Adds merchant-history features; retrained on data to 2026-05.",
        )
        self.approvals.card_update(
            actor=ds,
            version=v200,
            sections=fraud_card("2.0.0", auc=0.962, f1=0.866, latency=38),
            reason="First card.",
        )
        self.approvals.review_request(
            actor=ds, version=v200, reason="New feature set, please review."
        )
        self.approvals.review_submit(
            actor=r2,
            version=v200,
            decision=Decision.REQUEST_CHANGES,
            comment=(
                "Please report the step-up rate per country of card issue; the ethics "
                "section promises it but the evaluation does not show it."
            ),
        )
        self.approvals.card_update(
            actor=ds,
            version=v200,
            sections=fraud_card(
                "2.0.0",
                auc=0.962,
                f1=0.866,
                latency=38,
                extra=(
                    "Step-up rate by country of card issue: highest 1.3× the overall rate "
                    "(IE), within the 1.5× alert level."
                ),
            ),
            reason="Added the per-country step-up rates reviewer2 asked for.",
        )
        approve(v200, r2, "Thanks, the per-country rates look fine.")
        self.services.model_version_promote(
            actor=rm,
            version=v200,
            reason="Merchant-history features: +1.5 points accuracy at lower latency.",
        )

        # 2.0.1: a retrain on fresher data, the version in production today.
        v201 = register(
            "2.0.1",
            {"accuracy": 0.934, "f1": 0.874, "auc": 0.965, "latency_ms": 37.0},
            "2026-09-01",
            "mlflow-run-c7e05d13",
            description="Monthly retrain on data to 2026-08; same features as 2.0.0.",
        )
        self.approvals.card_update(
            actor=ds,
            version=v201,
            sections=fraud_card("2.0.1", auc=0.965, f1=0.874, latency=37),
            reason="First card.",
        )
        self.approvals.review_request(actor=ds, version=v201, reason="Monthly retrain.")
        approve(v201, r1, "Routine retrain, metrics up across the board.")
        self.services.model_version_promote(
            actor=rm, version=v201, reason="Monthly retrain: fresher data, F1 +0.008."
        )
        self.seed_signals(rm, v201)

        # 2.1.0: waiting in the reviewers' inboxes.
        v210 = register(
            "2.1.0",
            {"accuracy": 0.941, "f1": 0.881, "auc": 0.969, "latency_ms": 44.0},
            "2026-10-01",
            "mlflow-run-e5b2f8a0",
            description="Adds device-fingerprint features; retrained on data to 2026-09.",
            params={
                "n_estimators": 700,
                "max_depth": 8,
                "learning_rate": 0.05,
                "device_features": True,
            },
            size=52_870_144,
        )
        self.approvals.card_update(
            actor=ds,
            version=v210,
            sections=fraud_card("2.1.0", auc=0.969, f1=0.881, latency=44),
            reason="First card.",
        )
        self.approvals.review_request(
            actor=ds,
            version=v210,
            reason="Device-fingerprint features; latency is up 7 ms but within budget.",
        )

    def seed_signals(self, actor, version) -> None:
        """A day of hourly health signals on the production version, as monitoring would
        post them: the false-positive rate creeping up, drift rising, latency steady."""
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        for hours_ago in range(23, -1, -1):
            step = 23 - hours_ago
            at = now - timedelta(hours=hours_ago)
            for metric, value, window, source in (
                (
                    "false_positive_rate",
                    0.021 + 0.0004 * step + 0.001 * (step % 3),
                    "1h",
                    "prometheus",
                ),
                ("drift_psi", 0.04 + 0.006 * step, "1h", "drift-monitor"),
                ("p99_latency_ms", 37.0 + 0.5 * (step % 4) + 0.1 * step, "10m", "prometheus"),
            ):
                services.signal_record(
                    actor=actor,
                    version=version,
                    metric=metric,
                    value=round(value, 4),
                    window=window,
                    source=source,
                    observed_at=at,
                )

    # --- price_optimizer: a promotion that was rolled back ------------------------------

    def build_price_optimizer(self, users: dict, teams: dict) -> None:
        ds, r1, r2, rm = (
            users["ds_pricing"],
            users["reviewer1"],
            users["reviewer2"],
            users["release_mgr"],
        )
        model = self.services.registered_model_create(
            actor=ds,
            name="price_optimizer",
            team=teams["pricing"],
            description="Demand model that picks the discount for each promotion slot.",
            tags={"domain": "e-commerce", "framework": "lightgbm", "schedule": "every 15 min"},
        )

        def register(version: str, metrics: dict, run: str, data: str, **extra):
            return self.services.model_version_register(
                actor=ds,
                model=model,
                version=version,
                metrics=metrics,
                params={"num_leaves": 63, "learning_rate": 0.03, "objective": "poisson"},
                artifact_uri=f"runs:/{run}/model",
                artifact_sha256=_sha256("price_optimizer", version),
                artifact_size=12_582_912,
                data_version=f"s3://datasets/pricing/{data}",
                code_version=_git_sha("pricing", version),
                source_run=run,
                **extra,
            )

        def ship(mv, card: dict, reviewer, reason: str):
            self.approvals.card_update(actor=ds, version=mv, sections=card, reason="First card.")
            self.approvals.review_request(
                actor=ds, version=mv, reason=f"{mv.version} ready for review."
            )
            self.approvals.review_submit(
                actor=reviewer,
                version=mv,
                decision=Decision.APPROVE,
                comment="Back-test and guard-rails look right.",
                revision_sha256=approval_selectors.card_for(mv).current_revision.sha256,
            )
            return self.services.model_version_promote(actor=rm, version=mv, reason=reason)

        v100 = register(
            "1.0.0",
            {"rmse": 4.82, "mape": 0.118, "latency_ms": 120.0},
            "4b1f0c9e27d84a6f",
            "2026-05-01",
            description="First demand model for the promotion slots.",
        )
        ship(
            v100,
            pricing_card("1.0.0", rmse=4.82, mape=0.118),
            r1,
            "Beat the rule-based discounts by 3.1 % margin in the back-test.",
        )
        v110 = register(
            "1.1.0",
            {"rmse": 4.51, "mape": 0.109, "latency_ms": 135.0},
            "9ac3e1d05b7f4e22",
            "2026-08-01",
            description="Adds weather and local-event features.",
        )
        ship(
            v110,
            pricing_card("1.1.0", rmse=4.51, mape=0.109),
            r2,
            "Weather features: lower RMSE and MAPE in the back-test.",
        )
        self.services.registered_model_rollback(
            actor=rm,
            model=model,
            reason=(
                "1.1.0 over-discounts weekend baskets: margin down 2.4 % on the first "
                "Saturday. Back to 1.0.0 while pricing investigates."
            ),
        )

        v120 = register(
            "1.2.0",
            {"rmse": 4.58, "mape": 0.111, "latency_ms": 128.0},
            "d2e87f6a30c14b95",
            "2026-10-01",
            description="1.1.0 with weekend demand re-weighted.",
        )
        self.approvals.card_update(
            actor=ds,
            version=v120,
            sections=pricing_card("1.2.0", rmse=4.58, mape=0.111),
            reason="First card.",
        )
        self.approvals.review_request(
            actor=ds, version=v120, reason="Fixes the weekend over-discounting of 1.1.0."
        )
        self.approvals.review_submit(
            actor=r2,
            version=v120,
            decision=Decision.REQUEST_CHANGES,
            comment=(
                "The evaluation should show weekend and weekday errors separately: that is "
                "what broke 1.1.0. Please add the split before I approve."
            ),
        )

    # --- churn_forecaster: early work, nothing promoted yet -----------------------------

    def build_churn_forecaster(self, users: dict, teams: dict) -> None:
        ds = users["ds_pricing"]
        model = self.services.registered_model_create(
            actor=ds,
            name="churn_forecaster",
            team=teams["pricing"],
            description="Sixty-day cancellation risk per subscriber, for retention planning.",
            tags={"domain": "subscriptions", "framework": "scikit-learn"},
        )
        for version, metrics, run, description in (
            (
                "0.1.0",
                {"auc": 0.802, "f1": 0.611, "brier": 0.141, "latency_ms": 9.0},
                "mlflow-run-51d0aa3e",
                "Logistic-regression baseline.",
            ),
            (
                "0.2.0-beta.1",
                {"auc": 0.834, "f1": 0.648, "brier": 0.129, "latency_ms": 14.0},
                "mlflow-run-72cf19b4",
                "Gradient boosting on the same features; still being evaluated.",
            ),
        ):
            mv = self.services.model_version_register(
                actor=ds,
                model=model,
                version=version,
                metrics=metrics,
                params={"model": "logreg" if version == "0.1.0" else "hist_gbt", "C": 1.0},
                artifact_uri=f"mlflow-artifacts:/churn/{run}/artifacts/model",
                data_version="s3://datasets/churn/2026-10-01",
                code_version=_git_sha("churn", version),
                source_run=run,
                description=description,
            )
            if version == "0.1.0":
                self.approvals.card_update(
                    actor=ds, version=mv, sections=CHURN_CARD_DRAFT, reason="Draft card."
                )

    # --- Output -----------------------------------------------------------------------

    def print_logins(self, url: str = URL) -> None:
        rows = [("username", "password", "role")] + [
            (u.username, u.password, u.role_label) for u in USERS
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        rule = "  ".join("-" * w for w in widths)
        self.stdout.write("")
        self.stdout.write("Demo logins:")
        for i, row in enumerate(rows):
            self.stdout.write(
                "  "
                + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
            if i == 0:
                self.stdout.write("  " + rule)
        self.stdout.write("")
        self.stdout.write(f"Dashboard: {url}")
        self.stdout.write(f"Admin:     {url}admin/")
