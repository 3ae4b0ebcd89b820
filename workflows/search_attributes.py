"""The pledge's custom search attributes (operator visibility): keys the workflow upserts and the start sets.

They live with the workflow because the workflow writes them; the dev server start, the test fixtures and a
production namespace register the same names and types (``SEARCH_ATTRIBUTES``).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.state import PledgeStatus
from workflows.submission import Submission

STATUS = SearchAttributeKey.for_keyword("PledgeStatus")
ORGANIZATION = SearchAttributeKey.for_keyword("PledgeOrganization")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("PledgeNextDeadline")
MISSED_CYCLES = SearchAttributeKey.for_int("PledgeMissedCycles")
SDGS = SearchAttributeKey.for_keyword_list("PledgeSDGs")
COUNTRIES = SearchAttributeKey.for_keyword_list("PledgeCountries")

KEYS = (STATUS, ORGANIZATION, NEXT_DEADLINE, MISSED_CYCLES, SDGS, COUNTRIES)

# name=Type pairs, as `temporal server start-dev --search-attribute` and `temporal operator search-attribute
# create` take them.
SEARCH_ATTRIBUTES = {
    "PledgeStatus": "Keyword",
    "PledgeOrganization": "Keyword",
    "PledgeNextDeadline": "Datetime",
    "PledgeMissedCycles": "Int",
    "PledgeSDGs": "KeywordList",
    "PledgeCountries": "KeywordList",
}


def initial_search_attributes(submission: Submission) -> TypedSearchAttributes:
    """Set at start so a new pledge is findable in the Temporal UI before its first task runs."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STATUS, PledgeStatus.in_review.value),
            SearchAttributePair(ORGANIZATION, submission.organization.name),
            SearchAttributePair(SDGS, [str(sdg) for sdg in submission.sdgs]),
            SearchAttributePair(COUNTRIES, list(submission.countries)),
        ]
    )
