"""Broker authentication settings reach every Kafka client a service makes."""

from __future__ import annotations

import ssl

import pytest

from prm_events.kafka import connection_options, make_admin, make_consumer, make_producer
from prm_platform.settings import ServiceSettings

SECRET = "s" * 40


def settings(**overrides) -> ServiceSettings:
    return ServiceSettings(internal_secret=SECRET, kafka_bootstrap="kafka-1:9092,kafka-2:9092",
                           **overrides)


def test_plaintext_by_default():
    options = connection_options(settings())
    assert options == {"bootstrap_servers": "kafka-1:9092,kafka-2:9092",
                       "security_protocol": "PLAINTEXT"}


def test_scram_over_tls():
    options = connection_options(settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_username="prm-deals", kafka_password="pw-deals"))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "prm-deals", "pw-deals")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("credentials", [{}, {"kafka_username": "prm-deals"},
                                         {"kafka_username": "prm-deals", "kafka_password": ""}])
def test_sasl_without_credentials_is_refused(credentials):
    with pytest.raises(ValueError, match="PRM_KAFKA_USERNAME and PRM_KAFKA_PASSWORD"):
        connection_options(settings(kafka_security_protocol="SASL_PLAINTEXT", **credentials))


def test_unknown_protocol_or_mechanism_is_refused():
    with pytest.raises(ValueError):
        settings(kafka_security_protocol="KERBEROS")
    with pytest.raises(ValueError):
        settings(kafka_sasl_mechanism="GSSAPI")


def test_the_password_is_never_shown():
    configured = settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="prm-deals",
                          kafka_password="pw-deals-very-secret")
    assert "pw-deals-very-secret" not in repr(configured)


async def test_producer_consumers_and_admin_authenticate_alike():
    configured = settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="prm-deals",
                          kafka_password="pw-deals")
    clients = [make_producer(configured).client,
               make_consumer(configured, "deals.test", "prm.partners")._client,
               make_admin(configured)._client]
    for client in clients:
        assert client._security_protocol == "SASL_PLAINTEXT"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert (client._sasl_plain_username, client._sasl_plain_password) == (
            "prm-deals", "pw-deals")
