"""Local stand-ins of the Meetup, Eventbrite and Luma APIs for sandbox mode and tests.

Each stand-in (``MeetupSandbox``, ``EventbriteSandbox``, ``LumaSandbox``) keeps its state in
memory and serves it as an ASGI app (``.app``) shaped like the real API, including its auth
header, error bodies, pagination and OAuth pages. ``runner.run_sandboxes()`` serves all three
on loopback; ``demo.seed_demo()`` fills them with a sample event and a few registrations.

Control endpoints, outside every platform's API shape and without auth (loopback only):

    POST   /_sandbox/events                                    seed an event (SeedEvent fields)
    GET    /_sandbox/events/{id}                               limit, open, counts, people
    POST   /_sandbox/events/{id}/registrations                 {name, email?, member_id?}:
                                                               201 going/waitlist, 409 refused
    POST   /_sandbox/events/{id}/registrations/{rid}/cancel
    POST   /_sandbox/events/{id}/registrations/{rid}/check-in
    GET    /_sandbox/state                                     everything, call log, webhooks
    POST   /_sandbox/faults   {latency_ms?, kind?: 5xx|429|hang, count?, status?}
    DELETE /_sandbox/faults
    POST   /_sandbox/rate     {limit, window_s}                the rate budget
    POST   /_sandbox/tokens/expire                             (Meetup, Eventbrite) force a 401
"""
