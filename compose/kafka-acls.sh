#!/bin/sh
# compose/kafka-acls.sh: ml-connector's Kafka users (SCRAM-SHA-512) and the
# only rights each has. The one definition of them: the SASL_SSL override's
# kafka-init runs it (compose/docker-compose.sasl.yml), tests/kafka/
# test_sasl_acl.py runs it on scripts/kafka --sasl, and it runs as well on a
# cluster of your own (docs/operations.md, "Kafka security").
#
#   user           operations        resource
#   mlc-extractor  Write, Describe   topic TOPIC      publish events (Write also
#                                                     allows the idempotent producer)
#   mlc-loader     Read, Describe    topic TOPIC      consume events
#                  Read              group GROUP      ... in its consumer group
#                  Write, Describe   topic DLQ_TOPIC  dead-letter what it refuses
#   mlc-operator   Read, Describe    topic DLQ_TOPIC  mlc dlq list/show/replay read the
#                                                     DLQ by assignment, outside any group
#                  Describe          group mlc-reader ... but librdkafka's consumer looks
#                                                     up the coordinator of its group id
#                  Write, Describe   topic TOPIC      mlc dlq replay re-publishes
# Nothing else: the extractor reads nothing, the loader produces no event,
# and no user may create, alter or delete topics or ACLs (the admin does).
#
# Environment:
#   BOOTSTRAP        a SASL_SSL listener of the cluster (host:port)
#   COMMAND_CONFIG   the admin's client properties (security.protocol,
#                    sasl.mechanism, sasl.jaas.config, ssl.truststore.*)
#   KAFKA_BIN        directory of the release's kafka-configs.sh and
#                    kafka-acls.sh (default /opt/kafka/bin)
#   TOPIC DLQ_TOPIC GROUP   default sage300.customers.v1,
#                    sage300.customers.dlq, mlc-loader (MLC_TOPIC,
#                    MLC_DLQ_TOPIC, MLC_KAFKA_GROUP of the workers)
#   EXTRACTOR_PASSWORD LOADER_PASSWORD OPERATOR_PASSWORD, or the same names
#                    with _FILE naming a file that holds it: sets that
#                    user's SCRAM-SHA-512 credential; a user given neither
#                    keeps the credential it has.
# Idempotent (an ACL that exists is not added twice). Prints the ACLs at the
# end, never a password. kafka-configs takes the credential on its command
# line (its --add-config-file cannot parse SCRAM entries), so run this where
# no other user lists processes: the kafka-init container, an admin host.
set -eu

: "${BOOTSTRAP:?BOOTSTRAP: the cluster's SASL_SSL listener}"
: "${COMMAND_CONFIG:?COMMAND_CONFIG: the admin's client properties file}"
bin=${KAFKA_BIN:-/opt/kafka/bin}
topic=${TOPIC:-sage300.customers.v1}
dlq=${DLQ_TOPIC:-sage300.customers.dlq}
group=${GROUP:-mlc-loader}
reader=mlc-reader # the group id `mlc dlq` reads with (never joined, never committed)
mech=SCRAM-SHA-512

admin() { # TOOL ARGS...: a tool of the release as the admin
    tool=$1
    shift
    "$bin/$tool.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" "$@"
}

password() { # VAR: the value of VAR, else the content of the file VAR_FILE names
    eval "v=\${$1:-} f=\${$1_FILE:-}"
    if [ -n "$v" ] && [ -n "$f" ]; then
        echo "kafka-acls: both $1 and $1_FILE are set" >&2
        exit 2
    fi
    if [ -n "$f" ]; then
        [ -r "$f" ] || { echo "kafka-acls: $1_FILE: cannot read $f" >&2; exit 2; }
        v=$(cat "$f")
    fi
    printf '%s' "$v"
}

for pair in mlc-extractor:EXTRACTOR_PASSWORD mlc-loader:LOADER_PASSWORD \
    mlc-operator:OPERATOR_PASSWORD; do
    user=${pair%%:*}
    pw=$(password "${pair#*:}")
    [ -n "$pw" ] || continue
    admin kafka-configs --alter --entity-type users --entity-name "$user" \
        --add-config "$mech=[password=$pw]" >/dev/null
    echo "kafka-acls: $mech credential of $user set"
done

allow() { # USER OPERATIONS... -- RESOURCE ARGS...
    user=$1
    shift
    ops=
    while [ "$1" != -- ]; do
        ops="$ops --operation $1"
        shift
    done
    shift
    # shellcheck disable=SC2086 # ops is a list of options
    admin kafka-acls --add --allow-principal "User:$user" $ops "$@" >/dev/null
}

allow mlc-extractor Write Describe -- --topic "$topic"
allow mlc-loader Read Describe -- --topic "$topic"
allow mlc-loader Read -- --group "$group"
allow mlc-loader Write Describe -- --topic "$dlq"
allow mlc-operator Read Describe -- --topic "$dlq"
allow mlc-operator Describe -- --group "$reader"
allow mlc-operator Write Describe -- --topic "$topic"
admin kafka-acls --list
