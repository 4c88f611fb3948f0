"""Push each listing's limit and state to its platform (docs/inventory.md, "Mirror jobs").

One SAQ job per listing (key ``push:<listing_id>``) reads the target when it runs, pushes it,
and runs again if the target moved meanwhile (services.mirror.coalescing): a burst of changes
becomes a few calls, and the last change is never swallowed by a job that is already running.
Changes caused by native registrations go to the ``urgent`` queue, ahead of everything else.

Failures map to what the organiser or the job can do about them; a failing listing is never
given up on (services.mirror.listing_health): it shows its last error and when it is tried again.
rate limited -> wait the platform's Retry-After (every job on that account is held back);
transient -> the job retries itself with a capped backoff (seat changes meanwhile join it);
auth, not found, rejected -> the error in plain words; the scheduled pass (tasks.pull)
re-drives it after a minute or more, and the organiser's fix or a recount pushes at once.

job        the SAQ job, `push_listing`: pushes until the target stops moving, paced
target     what the listing should show now, and whether it is owed a push
apply      the calls that make the platform show it, never below what it sold
succeeded  recording a push, and what follows it (settling seats, siblings, a pull)
failed     recording a failure, when to try again, and how SAQ is told (RetryLater)
client     the listing's platform client for one job run, and the account's rate budget
"""
