"""The contacts' list grammar (prm_platform.listing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import String, func

from prm_partners.contacts.models import Contact
from prm_partners.contacts.schemas import ContactRole
from prm_platform.listing import Filter, Listing, QueryTime, Range

# An e-mail address as the filter compares it: case-insensitively.
FoldedEmail = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                               min_length=3, max_length=254)]

CONTACTS = Listing(
    Contact.id,
    Filter("role", Contact.roles, ContactRole, "Only contacts with any of these roles."),
    # The unique index on (partner_id, lower(email)) serves it.
    Filter("email", func.lower(Contact.email, type_=String), FoldedEmail,
           "Only the contacts with these e-mail addresses (case-insensitive)."),
    Range("created_at", Contact.created_at, QueryTime, "When it was added"),
    sorts={"name": Contact.sort_name},
    search=Contact.search_text, search_fields=("name", "e-mail address"),
    updated=Contact.updated_at,
)
