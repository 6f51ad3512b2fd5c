"""A service refuses to start with an internal secret that is short or left as a placeholder."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("secret", ["tooshort", "CHANGE-ME-openssl-rand-hex-32"])
@pytest.mark.parametrize("factory", ["prm_partners.main:create_app", "prm_deals.main:create_app",
                                     "prm_gateway.main:create_app"])
def test_bad_secrets_are_refused_at_start_up(factory, secret):
    module, _, function = factory.partition(":")
    result = subprocess.run(
        [sys.executable, "-c", f"from {module} import {function}; {function}()"],
        env={**os.environ, "PRM_INTERNAL_SECRET": secret}, capture_output=True, text=True,
        timeout=60)
    assert result.returncode != 0
    assert "PRM_INTERNAL_SECRET" in result.stderr


@pytest.mark.parametrize("command", [
    "from prm_gateway.main import create_app; create_app()",
    "from prm_deals.worker import spec; from prm_events.worker import main; main(spec())",
])
def test_broker_authentication_without_credentials_is_refused_at_start_up(command):
    env = {**os.environ, "PRM_INTERNAL_SECRET": "x" * 40,
           "PRM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    env.pop("PRM_KAFKA_PASSWORD", None)
    result = subprocess.run([sys.executable, "-c", command], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "PRM_KAFKA_USERNAME and PRM_KAFKA_PASSWORD" in result.stderr
