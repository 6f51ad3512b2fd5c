"""Signed deliveries (survey tools, marketplaces): the tolerance of a signature's time, at its
edges, against a fixed clock."""

import pytest

from prm_platform.signatures import (
    SIGNATURE_TOLERANCE,
    SignatureRefused,
    signature_header,
    verify_signature,
)

SECRET = b"whsec-edges"
BODY = b'{"id": "evt-1"}'
NOW = 1_800_000_000


@pytest.mark.parametrize("offset", [-SIGNATURE_TOLERANCE, 0, SIGNATURE_TOLERANCE])
def test_a_signature_within_the_tolerance_is_taken(offset):
    verify_signature(SECRET, signature_header(SECRET, NOW + offset, BODY), BODY, NOW)


@pytest.mark.parametrize("offset", [-SIGNATURE_TOLERANCE - 1, SIGNATURE_TOLERANCE + 1])
def test_a_second_past_the_tolerance_either_way_is_refused(offset):
    with pytest.raises(SignatureRefused, match="stale"):
        verify_signature(SECRET, signature_header(SECRET, NOW + offset, BODY), BODY, NOW)


def test_the_time_is_signed_too():
    """A delivery's time moved back into the tolerance no longer matches its signature."""
    header = signature_header(SECRET, NOW - SIGNATURE_TOLERANCE - 60, BODY)
    moved = header.replace(f"t={NOW - SIGNATURE_TOLERANCE - 60}", f"t={NOW}")
    with pytest.raises(SignatureRefused, match="does not match"):
        verify_signature(SECRET, moved, BODY, NOW)
