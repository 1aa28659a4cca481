#!/bin/sh
# kafka-server-start.sh server.properties [--override key=value ...]
base=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: kafka-server-start.sh server.properties [--override property=value]*" >&2; exit 1; }
: "${KAFKA_HEAP_OPTS:=-Xmx1G -Xms1G}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j.configuration=file:$base/config/log4j.properties}"
export KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS
exec "$base/bin/kafka-run-class.sh" kafka.Kafka "$@"
