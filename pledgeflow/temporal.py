"""Connecting to Temporal with Pledgeflow's data converter, and the search attributes it relies on."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter

from pledgeflow.settings import Settings
from workflows.submission import Submission

STATUS = SearchAttributeKey.for_keyword("PledgeStatus")
ORGANIZATION = SearchAttributeKey.for_keyword("PledgeOrganization")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("PledgeNextDeadline")
MISSED_CYCLES = SearchAttributeKey.for_int("PledgeMissedCycles")
SDGS = SearchAttributeKey.for_keyword_list("PledgeSDGs")
COUNTRIES = SearchAttributeKey.for_keyword_list("PledgeCountries")

# name=Type pairs, as `temporal server start-dev --search-attribute` takes them.
SEARCH_ATTRIBUTES = {
    "PledgeStatus": "Keyword",
    "PledgeOrganization": "Keyword",
    "PledgeNextDeadline": "Datetime",
    "PledgeMissedCycles": "Int",
    "PledgeSDGs": "KeywordList",
    "PledgeCountries": "KeywordList",
}


async def connect(settings: Settings) -> Client:
    tls: TLSConfig | bool = settings.temporal_tls
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=settings.temporal_api_key,
    )


def initial_search_attributes(submission: Submission) -> TypedSearchAttributes:
    """Set at start so a new pledge is findable in the Temporal UI before its first task runs."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STATUS, "in_review"),
            SearchAttributePair(ORGANIZATION, submission.organization.name),
            SearchAttributePair(SDGS, [str(sdg) for sdg in submission.sdgs]),
            SearchAttributePair(COUNTRIES, list(submission.countries)),
        ]
    )
