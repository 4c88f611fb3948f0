"""The slice of Meetup's current (gql-ext) schema the stand-in serves: type -> field -> type.

An empty type name marks a scalar or enum. Field names follow the generated types of the
current schema (docs/platforms.md, Meetup), so a client asking for a removed field (``going``,
``timezone`` on Event, ``venue``...) fails here as it would against Meetup.
"""

from __future__ import annotations

from community.sandbox.graphql_lite import Schema

_PAYLOAD = {"event": "Event", "errors": "PayloadError"}
VENUE_FIELDS = (
    "id",
    "name",
    "address",
    "city",
    "state",
    "postalCode",
    "country",
    "lat",
    "lon",
    "venueType",
)

SCHEMA: Schema = {
    "Query": {"event": "Event", "self": "Member"},
    "Mutation": {
        "editEvent": "EditEventPayload",
        "closeEventRsvps": "CloseEventRsvpsPayload",
        "openEventRsvps": "OpenEventRsvpsPayload",
        "createEvent": "CreateEventPayload",
    },
    "EditEventPayload": _PAYLOAD,
    "CloseEventRsvpsPayload": _PAYLOAD,
    "OpenEventRsvpsPayload": _PAYLOAD,
    "CreateEventPayload": _PAYLOAD,
    "PayloadError": {"code": "", "field": "", "message": ""},
    "Event": {
        **dict.fromkeys(
            [
                "id",
                "token",
                "title",
                "description",
                "eventUrl",
                "status",
                "eventType",
                "dateTime",
                "endTime",
                "duration",
                "createdTime",
                "maxTickets",
                "waitlistMode",
                "guestsAllowed",
                "numberOfAllowedGuests",
            ],
            "",
        ),
        "rsvpSettings": "RsvpSettings",
        "featuredEventPhoto": "PhotoInfo",
        "venues": "Venue",
        "group": "Group",
        "rsvps": "RsvpConnection",
    },
    "RsvpSettings": dict.fromkeys(("rsvpOpenTime", "rsvpCloseTime", "rsvpsClosed"), ""),
    "PhotoInfo": dict.fromkeys(("id", "baseUrl", "highResUrl", "standardUrl", "thumbUrl"), ""),
    "Venue": dict.fromkeys(VENUE_FIELDS, ""),
    "Group": dict.fromkeys(("id", "urlname", "name", "timezone"), ""),
    "RsvpConnection": {
        **dict.fromkeys(("totalCount", "yesCount", "waitlistCount", "noCount"), ""),
        "pageInfo": "PageInfo",
        "edges": "RsvpEdge",
    },
    "PageInfo": dict.fromkeys(("hasNextPage", "hasPreviousPage", "startCursor", "endCursor"), ""),
    "RsvpEdge": {"cursor": "", "node": "Rsvp"},
    "Rsvp": {
        **dict.fromkeys(("id", "status", "guestsCount", "isHost", "updated"), ""),
        "member": "Member",
    },
    "Member": {
        **dict.fromkeys(("id", "name", "username", "memberUrl", "email"), ""),
        "memberPhoto": "PhotoInfo",
    },
}
