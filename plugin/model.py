"""Records of the screening half: line items, list entries, relations, findings."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from entityscan.scanners.inventory import Certainty


class Verdict(StrEnum):
    FLAGGED = "flagged"
    REVIEW = "review"
    CLEAR = "clear"

    @property
    def rank(self) -> int:
        return {"clear": 0, "review": 1, "flagged": 2}[self.value]


class LineItem(BaseModel):
    """One procurement line: who sells it, who makes it, what it is."""

    model_config = ConfigDict(frozen=True)

    id: str
    supplier: str | None = None
    manufacturer: str | None = None
    brand: str | None = None
    description: str | None = None
    part_number: str | None = None
    extra: dict[str, str] = Field(default_factory=dict, description="unknown columns, kept")


class ListEntry(BaseModel):
    """One restricted party as a list publishes it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="stable id: the CSL `_id`, or `bundled:<slug>`")
    list: str = Field(description="short code: EL, NDAA889, FCC, 1260H, CMIC, SDN, …")
    list_name: str = Field(description="the list's full name as its publisher gives it")
    name: str
    aliases: tuple[str, ...] = ()
    maker: str | None = Field(default=None, description="canonical maker this entry is, if a "
                                                        "device maker (Hikvision, Dahua …)")
    citation: str | None = Field(default=None, description="e.g. `84 FR 54002`")
    listed: date | None = None
    removed: date | None = Field(default=None, description="delisting date; such entries "
                                                           "yield `review` at most")
    country: str | None = None
    parent: str | None = None
    scope: str | None = Field(default=None, description="what the listing covers, e.g. video "
                                                        "surveillance equipment")
    source_url: str | None = None
    remarks: str | None = None

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class Relation(BaseModel):
    """A brand (or subsidiary, or relabel) tied to a maker, with how sure we are."""

    model_config = ConfigDict(frozen=True)

    brand: str
    aliases: tuple[str, ...] = ()
    maker: str
    kind: str = Field(description="subsidiary | sub-brand | consumer-brand | oem-relabel | "
                                  "joint-venture | former-subsidiary | oem-partner")
    certainty: Certainty
    scope: str = Field(default="all", description="`all` product lines or only `some`")
    match: str = Field(default="exact", pattern="^(exact|group)$",
                       description="`exact`: the whole name; `group`: a coined group name "
                                   "(Huawei) found as whole words in any company name")
    since: date | None = None
    until: date | None = Field(default=None, description="the link ended (e.g. a sale)")
    source: str
    note: str | None = None


class Match(BaseModel):
    """Why a subject was tied to one list entry: which input, which name, which route."""

    entity: str = Field(description="the list entry's name")
    entry_id: str
    list: str
    list_name: str
    citation: str | None = None
    listed: date | None = None
    removed: date | None = None
    via: str = Field(description="how: `name`, `alias`, `brand-relation`, `part-number`, "
                                 "`device-attribution`")
    field: str | None = Field(default=None, description="the input field that matched")
    value: str | None = Field(default=None, description="the input value that matched")
    matched_name: str | None = Field(default=None, description="the list name or alias hit")
    score: float = Field(ge=0, le=100)
    features: dict[str, float] = Field(default_factory=dict,
                                       description="score explained feature by feature")


class Finding(BaseModel):
    """The screening answer for one line item or device."""

    subject: str = Field(description="line-item id or device key")
    subject_kind: str = Field(default="line_item", description="line_item | device")
    verdict: Verdict
    maker: str | None = None
    score: float = Field(default=0.0, ge=0, le=100)
    matches: list[Match] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
