"""`manage.py run_worker`: deliver webhook events from the outbox."""

from django.core.management.base import BaseCommand, CommandError

from webhooks_app.worker import Worker


class Command(BaseCommand):
    help = (
        "Deliver queued webhook events to their subscriptions, with retries and back-off. "
        "Runs until stopped (SIGTERM/SIGINT) unless --once is given. With --once it exits "
        "with status 1 when it made attempts and every one of them failed, 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help=(
                "Deliver everything due now, then exit (retries scheduled later stay queued). "
                "Exits 1 when every attempt failed, 0 when nothing was due or one succeeded."
            ),
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="Seconds between polls of the outbox (default 2).",
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=None,
            help="Attempts before a delivery is dead (default REGISTRY_WEBHOOK_MAX_ATTEMPTS).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1,
            help=(
                "Deliveries claimed per round (default 1). Each one claimed holds back the "
                "later events of its model until this worker has sent it, so more only "
                "saves claims; run more workers to send more at once."
            ),
        )

    def handle(
        self,
        *args,
        once=False,
        interval=2.0,
        max_attempts=None,
        batch_size=1,
        **kw,
    ):
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        if max_attempts is not None and max_attempts < 1:
            raise CommandError("--max-attempts must be at least 1.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        worker = Worker(
            max_attempts=max_attempts,
            batch_size=batch_size,
            log=lambda message: self.stdout.write(message),
        )
        if once:
            worker.stop_on_signals()
            count = worker.drain()
            self.stdout.write(f"{count} delivery attempt(s) made.")
            if worker.attempted and not worker.succeeded:
                raise CommandError(
                    f"Every delivery attempt failed ({worker.attempted} made).", returncode=1
                )
            return
        worker.run_forever(interval=interval)
