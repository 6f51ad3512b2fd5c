#!/bin/sh
# Broker users and ACLs of every PRM service. Generated from the services' declarations by
# `python -m prm_events.access` (make kafka-access): do not edit by hand.
#
# Creates or updates one SCRAM user per service and grants it exactly what its declaration
# needs; re-running it is harmless. Needs Kafka's tools (KAFKA_BIN, default /opt/kafka/bin),
#   KAFKA_BOOTSTRAP             the brokers, host:port[,host:port]
#   KAFKA_ADMIN_CONFIG          client properties of a user allowed to alter users and ACLs, or
#   KAFKA_ADMIN_USER/_PASSWORD  that user's SCRAM credentials (KAFKA_SECURITY_PROTOCOL,
#                               default SASL_PLAINTEXT; KAFKA_CA_FILE, a PEM bundle, for SASL_SSL)
#   PRM_<SERVICE>_KAFKA_PASSWORD  each service's password (letters, digits, - and _ only).
set -eu

KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
MECHANISM="${KAFKA_SCRAM_MECHANISM:-SCRAM-SHA-512}"
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the brokers (host:port)}"

if [ -z "${KAFKA_ADMIN_CONFIG:-}" ]; then
  : "${KAFKA_ADMIN_USER:?set KAFKA_ADMIN_CONFIG, or KAFKA_ADMIN_USER and KAFKA_ADMIN_PASSWORD}"
  : "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}"
  KAFKA_ADMIN_CONFIG="$(mktemp)"
  trap 'rm -f "$KAFKA_ADMIN_CONFIG"' EXIT
  {
    echo "security.protocol=${KAFKA_SECURITY_PROTOCOL:-SASL_PLAINTEXT}"
    echo "sasl.mechanism=$MECHANISM"
    echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
username=\"$KAFKA_ADMIN_USER\" password=\"$KAFKA_ADMIN_PASSWORD\";"
    if [ -n "${KAFKA_CA_FILE:-}" ]; then
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$KAFKA_CA_FILE"
    fi
  } > "$KAFKA_ADMIN_CONFIG"
fi

user() {  # name password
  case "$2" in
    *[!A-Za-z0-9_-]*) echo "the password of $1 may hold letters, digits, - and _ only" >&2
                      exit 2 ;;
  esac
  "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --command-config "$KAFKA_ADMIN_CONFIG" --alter --entity-type users --entity-name "$1" \
    --add-config "$MECHANISM=[password=$2]"
}

allow() {  # user, then the resource and operations as kafka-acls.sh takes them
  principal="User:$1"
  shift
  "$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --command-config "$KAFKA_ADMIN_CONFIG" --add --allow-principal "$principal" "$@"
}


# gateway
user prm-gateway "${PRM_GATEWAY_KAFKA_PASSWORD:?set PRM_GATEWAY_KAFKA_PASSWORD}"
allow prm-gateway --topic prm.api-keys --operation Write --operation Describe --operation Create
allow prm-gateway --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-gateway --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-gateway --group gateway. --resource-pattern-type prefixed --operation Read

# partners
user prm-partners "${PRM_PARTNERS_KAFKA_PASSWORD:?set PRM_PARTNERS_KAFKA_PASSWORD}"
allow prm-partners --topic prm.partners --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.enablement --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-partners --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-partners --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-partners --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.fx-rates --operation Read --operation Describe --operation Create
allow prm-partners --topic prm.fx-rates.dlt --operation Write --operation Describe --operation Create
allow prm-partners --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-partners --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-partners --group partners. --resource-pattern-type prefixed --operation Read

# deals
user prm-deals "${PRM_DEALS_KAFKA_PASSWORD:?set PRM_DEALS_KAFKA_PASSWORD}"
allow prm-deals --topic prm.deals --operation Write --operation Describe --operation Create
allow prm-deals --topic prm.leads --operation Write --operation Describe --operation Create
allow prm-deals --topic prm.campaigns --operation Write --operation Describe --operation Create
allow prm-deals --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-deals --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-deals --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-deals --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-deals --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-deals --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-deals --group deals. --resource-pattern-type prefixed --operation Read

# incentives
user prm-incentives "${PRM_INCENTIVES_KAFKA_PASSWORD:?set PRM_INCENTIVES_KAFKA_PASSWORD}"
allow prm-incentives --topic prm.incentives --operation Write --operation Describe --operation Create
allow prm-incentives --topic prm.fx-rates --operation Write --operation Describe --operation Create
allow prm-incentives --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-incentives --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-incentives --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-incentives --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-incentives --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-incentives --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-incentives --group incentives. --resource-pattern-type prefixed --operation Read

# attribution
user prm-attribution "${PRM_ATTRIBUTION_KAFKA_PASSWORD:?set PRM_ATTRIBUTION_KAFKA_PASSWORD}"
allow prm-attribution --topic prm.attribution --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.fx-rates --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.fx-rates.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --topic prm.campaigns --operation Read --operation Describe --operation Create
allow prm-attribution --topic prm.campaigns.dlt --operation Write --operation Describe --operation Create
allow prm-attribution --group attribution. --resource-pattern-type prefixed --operation Read

# webhooks
user prm-webhooks "${PRM_WEBHOOKS_KAFKA_PASSWORD:?set PRM_WEBHOOKS_KAFKA_PASSWORD}"
allow prm-webhooks --topic prm.webhooks --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.leads --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.leads.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.attribution --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.attribution.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.partner-health --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.partner-health.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.campaigns --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.campaigns.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.enablement --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.enablement.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --topic prm.webhooks --operation Read --operation Describe --operation Create
allow prm-webhooks --topic prm.webhooks.dlt --operation Write --operation Describe --operation Create
allow prm-webhooks --group webhooks. --resource-pattern-type prefixed --operation Read

# portal
user prm-portal "${PRM_PORTAL_KAFKA_PASSWORD:?set PRM_PORTAL_KAFKA_PASSWORD}"
allow prm-portal --topic prm.partner-health --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.partner-health --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.partner-health.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.enablement --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.enablement.dlt --operation Write --operation Describe --operation Create
allow prm-portal --topic prm.leads --operation Read --operation Describe --operation Create
allow prm-portal --topic prm.leads.dlt --operation Write --operation Describe --operation Create
allow prm-portal --group portal. --resource-pattern-type prefixed --operation Read

# audit
user prm-audit "${PRM_AUDIT_KAFKA_PASSWORD:?set PRM_AUDIT_KAFKA_PASSWORD}"
allow prm-audit --topic prm.partners --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.partners.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.deals --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.deals.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.api-keys --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.api-keys.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.incentives --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.incentives.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.webhooks --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.webhooks.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.fx-rates --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.fx-rates.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.leads --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.leads.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.partner-health --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.partner-health.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.campaigns --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.campaigns.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.enablement --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.enablement.dlt --operation Write --operation Describe --operation Create
allow prm-audit --topic prm.attribution --operation Read --operation Describe --operation Create
allow prm-audit --topic prm.attribution.dlt --operation Write --operation Describe --operation Create
allow prm-audit --group audit. --resource-pattern-type prefixed --operation Read

echo "broker users and ACLs are up to date"
