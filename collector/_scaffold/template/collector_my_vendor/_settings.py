"""The settings of a `[[sources]]` entry with `plugin = "my_vendor"`."""

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from collector import Secret, SourceSettings, http_url

EXAMPLE_URL = "https://api.my-vendor.example"


class MyVendorSettings(SourceSettings):
    """One MyVendor tenant: where its API is, its API key, and from when to collect.

    Every key `SourceSettings` defines (rate_limit, max_in_flight, retry, ...) is accepted too.
    """

    base_url: Annotated[str, AfterValidator(lambda url: http_url(url, example=EXAMPLE_URL))]
    api_key: Secret = Field(description='the API key: { env = "NAME" } or { file = "/path" }')
    start: AwareDatetime = Field(description="collect recordings created at or after this")
    page_size: int = Field(default=100, ge=1, le=500, description="recordings per listing page")
