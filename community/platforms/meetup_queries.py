"""GraphQL documents sent to Meetup's ``/gql-ext`` (current schema, see docs/platforms.md)."""

from __future__ import annotations

# Enough to decide sold out / waitlist after any push.
PUSH_FIELDS = """
    id maxTickets waitlistMode
    rsvpSettings { rsvpsClosed }
    rsvps(first: 1) { yesCount waitlistCount }
"""

EVENT = f"""
query Ev($id: ID!) {{
  event(id: $id) {{
    {PUSH_FIELDS}
    token title description eventUrl status eventType dateTime endTime
    featuredEventPhoto {{ highResUrl baseUrl }}
    venues {{ id name address city state country lat lon venueType }}
    group {{ id urlname name timezone }}
  }}
}}
"""

PUSH_STATE = f"""
query Push($id: ID!) {{ event(id: $id) {{ {PUSH_FIELDS} }} }}
"""

EDIT_EVENT = f"""
mutation Cap($input: EditEventInput!) {{
  editEvent(input: $input) {{
    event {{ {PUSH_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""

CLOSE_RSVPS = f"""
mutation Close($input: CloseEventRsvpsInput!) {{
  closeEventRsvps(input: $input) {{
    event {{ {PUSH_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""

OPEN_RSVPS = f"""
mutation Open($input: OpenEventRsvpsInput!) {{
  openEventRsvps(input: $input) {{
    event {{ {PUSH_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""

RSVPS = """
query R($id: ID!, $first: Int!, $after: String, $filter: RsvpFilter, $sort: RsvpSort) {
  event(id: $id) {
    id
    rsvps(first: $first, after: $after, filter: $filter, sort: $sort) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id status guestsCount updated member { id name memberPhoto { thumbUrl } }
      } }
    }
  }
}
"""

CREATE_EVENT = """
mutation Create($input: CreateEventInput!) {
  createEvent(input: $input) {
    event { id eventUrl }
    errors { code field message }
  }
}
"""

SELF = """
query Me { self { id name email } }
"""

# Every status a registration can move through, so incremental syncs see cancellations too.
ALL_RSVP_STATUSES = [
    "YES",
    "WAITLIST",
    "NO",
    "ATTENDED",
    "NO_SHOW",
    "EXCUSED_ABSENCE",
    "YES_PENDING_PAYMENT",
]
