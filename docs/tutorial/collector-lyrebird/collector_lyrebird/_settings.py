"""The settings of a `[[sources]]` entry with `plugin = "lyrebird"`."""

from typing import Annotated

from collector import Secret, SourceSettings, http_url
from pydantic import AfterValidator, AwareDatetime, Field

API = "https://api.lyrebird.example"


class LyrebirdSettings(SourceSettings):
    """One Lyrebird account: its API host, its credentials, and from when to collect."""

    base_url: Annotated[str, AfterValidator(lambda url: http_url(url, example=API))] = API
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$", description="the Account SID")
    auth_token: Secret = Field(description="the account's Auth Token")
    start: AwareDatetime = Field(description="collect recordings created at or after this")
