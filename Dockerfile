# The otel-llmcost receiver (and `otel-llmcost demo`): OTLP/gRPC 4317, OTLP/HTTP 4318.
#   docker build -t otel-llmcost .
#   docker run -p 4317:4317 -p 4318:4318 -v llmcost-data:/var/lib/otel-llmcost otel-llmcost
FROM python:3.12-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY clickhouse ./clickhouse
# [embedded]: chDB, the default store. [demo]: the OpenTelemetry SDK and OTLP exporters, so the same image runs
# `otel-llmcost demo`.
RUN pip install --no-cache-dir '.[demo,embedded]' && rm -rf /src

COPY docker/receiver.yaml /etc/otel-llmcost/receiver.yaml
COPY alerts.yaml /etc/otel-llmcost/alerts.yaml
VOLUME /var/lib/otel-llmcost
EXPOSE 4317 4318 8123
ENTRYPOINT ["otel-llmcost"]
CMD ["serve", "--config", "/etc/otel-llmcost/receiver.yaml"]
