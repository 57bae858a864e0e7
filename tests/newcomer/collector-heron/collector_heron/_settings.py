"""The settings of a `[[sources]]` entry with `plugin = "heron"`."""

from typing import Annotated

from collector import Secret, SourceSettings, http_url
from pydantic import AfterValidator, Field

API = "https://api.heron.example"


class HeronSettings(SourceSettings):
    """One Heron workspace: its API host, the credentials of its API client."""

    base_url: Annotated[str, AfterValidator(lambda url: http_url(url, example=API))] = API
    client_id: str = Field(description="the API client's id (hrn_cli_...)")
    client_secret: Secret = Field(description="the API client's secret (hrs_...)")
