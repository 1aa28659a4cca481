#!/bin/sh
# compose/kafka-secrets.sh [DIR]: the files compose/docker-compose.sasl.yml
# needs, made with openssl in DIR (default ./secrets, next to the master key).
# Run as root from compose/ once; it refuses to overwrite an existing set.
#
#   DIR/kafka/               the broker's side, owner 1000 (the user of the
#                            apache/kafka image), mounted at /etc/kafka/secrets
#                            in kafka and kafka-init:
#     kafka.keystore.p12     its key and certificate (SAN: kafka, localhost,
#                            127.0.0.1), signed by a CA made here
#     keystore_creds         the key store's password (KAFKA_SSL_KEYSTORE_CREDENTIALS
#                            and KAFKA_SSL_KEY_CREDENTIALS, the official image's
#                            convention)
#     ca.pem                 the CA certificate (trust store)
#     admin_password         the SCRAM super user `admin`: the broker's own
#     kafka_server_jaas.conf inter-broker login, and the tools' (kafka-init,
#     admin.properties       the healthcheck)
#     extractor_password loader_password operator_password
#                            copies for kafka-init, which sets the users'
#                            SCRAM credentials (compose/kafka-acls.sh)
#   DIR/kafka_ca.pem         the CA certificate for the workers (public)
#   DIR/kafka_extractor_password, DIR/kafka_loader_password,
#   DIR/kafka_operator_password
#                            each worker's own, owner 10001, mode 600
#
# A CA of your own: replace ca.pem, kafka.keystore.p12 and keystore_creds
# (PKCS12; the certificate must name `kafka`, the host the workers connect
# to) and DIR/kafka_ca.pem. The CA's key is not kept.
set -eu
dir=${1:-./secrets}
k=$dir/kafka
if [ -e "$k/kafka.keystore.p12" ]; then
    echo "kafka-secrets: $k/kafka.keystore.p12 exists: remove $k to make a new set" >&2
    exit 1
fi
command -v openssl >/dev/null || { echo "kafka-secrets: openssl not found" >&2; exit 1; }
umask 077
mkdir -p "$k"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pw() { openssl rand -base64 30 | tr -d '/+=\n' | cut -c1-32; }

ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086 # ec is a list of options
openssl req -x509 $ec -keyout "$tmp/ca.key" -out "$k/ca.pem" -days 825 \
    -subj "/CN=ml-connector Kafka CA" 2>/dev/null
# shellcheck disable=SC2086
openssl req $ec -keyout "$tmp/broker.key" -out "$tmp/broker.csr" -subj "/CN=kafka" 2>/dev/null
printf 'subjectAltName=DNS:kafka,DNS:localhost,IP:127.0.0.1\n' >"$tmp/san.ext"
openssl x509 -req -in "$tmp/broker.csr" -CA "$k/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -days 825 -extfile "$tmp/san.ext" -out "$tmp/broker.crt" 2>/dev/null
pw >"$k/keystore_creds"
openssl pkcs12 -export -name kafka -inkey "$tmp/broker.key" -in "$tmp/broker.crt" \
    -certfile "$k/ca.pem" -out "$k/kafka.keystore.p12" -passout "file:$k/keystore_creds"

admin=$(pw)
printf '%s' "$admin" >"$k/admin_password"
cat >"$k/kafka_server_jaas.conf" <<JAAS
KafkaServer {
  org.apache.kafka.common.security.scram.ScramLoginModule required
  username="admin" password="$admin";
};
JAAS
cat >"$k/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/secrets/ca.pem
PROPS
for who in extractor loader operator; do
    pw >"$k/${who}_password"
    cp "$k/${who}_password" "$dir/kafka_${who}_password"
    chown 10001:10001 "$dir/kafka_${who}_password"
    chmod 600 "$dir/kafka_${who}_password"
done
cp "$k/ca.pem" "$dir/kafka_ca.pem"
chmod 644 "$dir/kafka_ca.pem" "$k/ca.pem"
chown -R 1000:1000 "$k"
chmod 700 "$k"
echo "kafka-secrets: made $k (owner 1000) and $dir/kafka_{ca.pem,extractor_password,loader_password,operator_password}"
