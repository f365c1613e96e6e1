"""First end-to-end checks of the collector, in-process, on SQLite and PostgreSQL."""

from aiohttp.test_utils import TestClient

from ot.config import Settings
from ot.models import Site
from tests.support import event, hits, rows, store_hits


async def test_a_pageview_is_stored_enriched(
    client: TestClient, settings: Settings, site: Site
) -> None:
    await store_hits(
        client,
        [
            event(
                url="https://shop.example/shoes?utm_medium=news&x=1",
                referrer="https://www.google.com/search?q=x",
            )
        ],
    )
    [hit] = await hits(settings)
    assert hit["name"] == "pageview"
    assert hit["pathname"] == "/shoes"
    assert hit["browser"] == "Chrome"
    assert hit["referrer_source"] == "Google"
    assert hit["utm_medium"] == "news"
    assert hit["query"] == "utm_medium=news"
    [visit] = await rows(settings, "SELECT * FROM visit")
    assert visit["pageviews"] == 1
