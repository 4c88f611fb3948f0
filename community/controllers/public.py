"""Public event pages: the list of upcoming events, one event's page, its live seats, its files.

Pages are themed per event (Meetup-style or Luma-style) over the same context. The page itself
may be revalidated cheaply (ETag); the live fragment is never cached.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, HttpMethod, Request, Response, get, route
from litestar.response import Redirect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.controllers.public_cache import (
    SHARED,
    SharedPage,
    shared_cacheable,
    shared_pages,
    shared_response,
)
from community.controllers.public_render import (
    NEVER_CACHE,
    PAGE_CACHE,
    PERSONAL_CACHE,
    SITE_NAME,
    base_context,
    etag_for,
    fragment,
    html_page,
    not_modified,
    render,
    theme_of,
)
from community.controllers.same_origin import PUBLIC_FORM
from community.models import Event, Registration
from community.services.access import visitor_places
from community.services.events.page_versions import seats_version
from community.views import event_pages as pages
from community.views.calendar import google_calendar_url, ics_for_event
from community.views.covers import cover_for, cover_png, cover_svg
from community.views.event_pages import PageState
from community.views.seo import (
    event_json_ld,
    robots_txt,
    script_json,
    sitemap_xml,
    social_tags,
)

# Crawlers and link checkers ask HEAD; the server sends the headers without the body.
GET_AND_HEAD = [HttpMethod.GET, HttpMethod.HEAD]

# States in which the page shows the registration form.
REGISTRABLE = frozenset({"open", "limited", "waitlist"})

# The button's word and the line above the form, in each theme's own voice.
REGISTER_COPY = {
    "meetup": ("Attend", ""),
    "luma": ("Register", "Welcome! To join the event, please register below."),
}


def register_copy(view: pages.EventView) -> tuple[str, str]:
    """The button's word and the line above the form; a paid ticket is bought, not taken."""
    label, intro = REGISTER_COPY[view.theme]
    return ("Get ticket" if view.is_paid else label), intro


def missing_page(request: Request[Any, Any, Any], theme: str | None = None) -> Response[Any]:
    context = base_context(
        theme_of(theme),
        page_title="Page not found",
        robots="noindex",
        heading="We couldn't find that page",
        message="The link may be mistyped, or the event may not be published yet.",
    )
    return html_page(request, "public/message.html", context, status_code=404)


def gone_page(request: Request[Any, Any, Any], event: Event) -> Response[Any]:
    context = base_context(
        theme_of(event.theme),
        page_title="Event removed",
        robots="noindex",
        heading="This event has been removed",
        message="The organisers took this event down. Tickets for it are no longer valid.",
    )
    return html_page(request, "public/message.html", context, status_code=410)


async def find_page_event(
    request: Request[Any, Any, Any], session: AsyncSession, slug: str
) -> tuple[Event, PageState] | Response[Any]:
    """The event behind a page address, or the 404 or 410 page to answer instead."""
    event, state = await pages.find_event(session, slug)
    if event is None or state == PageState.MISSING:
        return missing_page(request)
    if state == PageState.GONE:
        return gone_page(request, event)
    return event, state


def calendar_download(
    event: Event, body: str, cache_control: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    """An event's .ics file, offered for download under the event's short name."""
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{event.slug}.ics"',
            "cache-control": cache_control,
            **(headers or {}),
        },
    )


async def personal_place(
    request: Request[Any, Any, Any], session: AsyncSession, settings: Settings, event: Event
) -> Registration | None:
    """Personal or shared: the one place that decides.

    A visitor whose signed cookie names an active place at this event gets the page rendered
    for them (their place shown, never stored by anyone); everyone else gets the shared page,
    the same bytes for all. Without the cookie this costs nothing.
    """
    ids = visitor_places.decode(settings.secret_key, request.cookies.get(visitor_places.COOKIE))
    return await visitor_places.place_at(session, ids, event.id)


def cache_for(place: Registration | None) -> str:
    return PERSONAL_CACHE if place is not None else PAGE_CACHE


def remember_places(
    response: Response[Any],
    request: Request[Any, Any, Any],
    settings: Settings,
    ids: list[Any],
) -> Response[Any]:
    """Add these places to the visitor's signed cookie (no server session needed)."""
    if ids:
        response.set_cookie(
            visitor_places.COOKIE,
            visitor_places.add(
                settings.secret_key, request.cookies.get(visitor_places.COOKIE), ids
            ),
            max_age=visitor_places.MAX_AGE,
            path="/",
            httponly=True,
            secure=settings.secure_cookies,
            samesite="lax",
        )
    return response


async def _seats_view(
    session: AsyncSession, redis: Redis, settings: Settings, event: Event
) -> tuple[pages.EventView, pages.GoingCounts, pages.Availability]:
    """The event's view with who is going and the seats left, as the page and its live part
    show them."""
    view = pages.build_view(event, settings.base_url)
    going = await pages.going_counts(session, event.id)
    availability = await pages.availability(redis, settings, event, going)
    return view, going, availability


async def event_page_context(
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    event: Event,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    outcome: Any = None,
    mine: Registration | None = None,
) -> dict[str, Any]:
    """Everything the event page shows; also used to re-render it with a form's errors."""
    view, going, availability = await _seats_view(session, redis, settings, event)
    json_ld = script_json(event_json_ld(view, availability, settings.base_url))
    return base_context(
        view.theme,
        page_title=f"{event.title} · {event.group_name or view.host_name}",
        meta_description=view.meta_description,
        canonical=view.url,
        social=social_tags(view, settings.base_url),
        json_ld=json_ld,
        brand_name=event.group_name or view.host_name,
        view=view,
        going=going,
        availability=availability,
        cover_svg=cover_svg(
            event.slug, event.title, event.group_name or view.host_name, square=view.theme == "luma"
        ),
        google_url=google_calendar_url(event, page_url=view.url),
        wash=cover_for(event.slug).stops,
        register_label=register_copy(view)[0],
        register_intro=register_copy(view)[1],
        hold_minutes=settings.stripe.hold_minutes,
        form=form or {},
        errors=errors or {},
        notice=notice,
        outcome=outcome,
        mine=mine,
    )


class PublicPagesController(Controller):
    include_in_schema = False

    @route("/", http_method=GET_AND_HEAD, name="public:events", opt=PUBLIC_FORM)
    async def upcoming(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        settings: Settings,
        theme: str | None = None,
    ) -> Response[Any]:
        events = await pages.upcoming_events(db_session)
        totals = await pages.going_totals(db_session, [e.id for e in events])
        chosen = theme_of(theme)
        items = []
        for event in events:
            view = pages.build_view(event, settings.base_url)
            items.append(
                {
                    "view": view,
                    "day": view.start_local.date().isoformat(),
                    "going": totals.get(event.id, 0),
                    "cover": cover_svg(
                        event.slug,
                        event.title,
                        event.group_name or view.host_name,
                        square=chosen == "luma",
                    ),
                }
            )
        description = "Upcoming community events: register in seconds, no account needed."
        context = base_context(
            chosen,
            page_title=f"Upcoming events · {SITE_NAME}",
            meta_description=description,
            canonical=f"{settings.base_url}/",
            social=[
                ("property", "og:type", "website"),
                ("property", "og:site_name", SITE_NAME),
                ("property", "og:title", "Upcoming events"),
                ("property", "og:description", description),
                ("property", "og:url", f"{settings.base_url}/"),
                ("name", "twitter:card", "summary"),
            ],
            items=items,
            nav="events",
        )
        # Nothing personal on it: browsers and CDNs may share it (revalidated by its ETag).
        shared = shared_cacheable(request)
        cache = SHARED if shared else PAGE_CACHE
        return html_page(request, f"themes/{chosen}/events.html", context, cache_control=cache)

    @route("/events/{slug:str}", http_method=GET_AND_HEAD, name="public:event", opt=PUBLIC_FORM)
    async def event_page(
        self, request: Request[Any, Any, Any], slug: str, db_session: AsyncSession
    ) -> Response[Any]:
        # Redis and the settings come from the app's state rather than injection: one
        # dependency to resolve, not three (Litestar starts a task group per request for
        # several, which cost more than answering from the shared copy).
        redis: Redis = request.app.state["redis"]
        settings: Settings = request.app.state["settings"]
        found = await find_page_event(request, db_session, slug)
        if isinstance(found, Response):
            return found
        event, state = found
        if slug != event.slug:  # /events/Python-Night: one address per page for search engines
            return Redirect(f"/events/{event.slug}", status_code=301)
        # A cancelled event keeps its page (people look for what happened) but answers 410.
        status = 410 if state == PageState.CANCELLED else 200
        if not shared_cacheable(request):
            # Personal: this visitor's own place shown, the response kept by nobody.
            mine = await personal_place(request, db_session, settings, event)
            context = await event_page_context(db_session, redis, settings, event, mine=mine)
            template = f"themes/{context['theme']}/event.html"
            return html_page(
                request, template, context, status_code=status, cache_control=cache_for(mine)
            )
        # Rendered once per version: the event's row (every edit) and its seats (any change).
        seats = await seats_version(redis, settings, event.id)
        key = ("event", event.id, event.slug, event.updated_at, state, seats)
        page = shared_pages(request).get(key)
        if page is None:
            context = await event_page_context(db_session, redis, settings, event)
            body = render(request, f"themes/{context['theme']}/event.html", context)
            page = shared_pages(request).put(key, SharedPage.of(body, status))
        return shared_response(request, page)

    @get("/events/{slug:str}/live", name="public:live", opt=PUBLIC_FORM)
    async def live(
        self,
        request: Request[Any, Any, Any],
        slug: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        shown: str = "",
    ) -> Response[Any]:
        event, state = await pages.find_event(db_session, slug)
        if event is None or state in (PageState.MISSING, PageState.GONE):
            # 286 tells htmx to stop polling a page that no longer exists.
            return Response(b"", status_code=286, headers={"cache-control": NEVER_CACHE})
        view, going, availability = await _seats_view(db_session, redis, settings, event)
        context = {
            "view": view,
            "going": going,
            "availability": availability,
            "theme": view.theme,
            "mine": await personal_place(request, db_session, settings, event),
            # The state the page shows now: when the live count moves it to another, the
            # button, the intro and the mobile bar follow.
            "changed": bool(shown) and shown != availability.state,
            "shown_could_register": shown in REGISTRABLE,
            "form": {},
            "errors": {},
            "notice": "",
            "outcome": None,
            "register_label": register_copy(view)[0],
            "register_intro": register_copy(view)[1],
            "hold_minutes": settings.stripe.hold_minutes,
        }
        return fragment(request, "public/live.html", context)

    @get("/events/{slug:str}/cover.png", name="public:cover")
    async def cover(
        self, request: Request[Any, Any, Any], slug: str, db_session: AsyncSession
    ) -> Response[Any]:
        event, state = await pages.find_event(db_session, slug)
        if event is None or state in (PageState.MISSING, PageState.GONE):
            return missing_page(request)
        etag = f'"cover-{event.slug}"'
        headers = {"cache-control": "public, max-age=86400", "etag": etag}
        if not_modified(request, etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(cover_png(event.slug), media_type="image/png", headers=headers)

    @get("/events/{slug:str}/event.ics", name="public:event_ics")
    async def event_ics(
        self,
        request: Request[Any, Any, Any],
        slug: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Response[Any]:
        event, state = await pages.find_event(db_session, slug)
        if event is None or state in (PageState.MISSING, PageState.GONE):
            return missing_page(request)
        page_url = f"{settings.base_url}/events/{event.slug}"
        body = ics_for_event(event, page_url=page_url)
        return calendar_download(event, body, "public, max-age=300")

    @route("/sitemap.xml", http_method=GET_AND_HEAD, name="public:sitemap")
    async def sitemap(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
    ) -> Response[Any]:
        events = await pages.sitemap_events(db_session)
        entries = [("/", max((e.updated_at for e in events), default=None))]
        entries += [(f"/events/{e.slug}", e.updated_at) for e in events]
        body = sitemap_xml(settings.base_url, entries)
        etag = etag_for(body)
        headers = {"cache-control": "public, max-age=3600", "etag": etag}
        if not_modified(request, etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/xml; charset=utf-8", headers=headers)

    @route("/robots.txt", http_method=GET_AND_HEAD, name="public:robots")
    async def robots(self, settings: Settings) -> Response[str]:
        return Response(
            robots_txt(settings.base_url),
            media_type="text/plain; charset=utf-8",
            headers={"cache-control": "public, max-age=86400"},
        )
