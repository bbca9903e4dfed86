# gridbot in a container: an unprivileged user, everything it keeps under /data.
#
#   docker build -t gridbot .
#   mkdir -p data && cp config.example.toml data/config.toml     # then edit it
#   docker run --rm -v "$PWD/data:/data" gridbot org import /app/examples/org.toml --config /data/config.toml
#   docker run --rm -v "$PWD/data:/data" gridbot admin add YOUR_TELEGRAM_ID --unit NY --role admin --name 管理员 --config /data/config.toml
#   docker run -d --name gridbot --restart on-failure -e GRIDBOT_TOKEN=123456:ABC -v "$PWD/data:/data" gridbot
#
# Relative paths in /data/config.toml resolve inside /data (the database and evidence
# land in /data/data/). Webhook mode: add `-p 127.0.0.1:8080:8080`, set
# [webhook] listen = "0.0.0.0", and run `gridbot run --webhook --config /data/config.toml`.
# Backups: docker exec gridbot gridbot backup /data/backups --config /data/config.toml

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY examples ./examples
COPY config.example.toml ./
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin gridbot \
    && mkdir -p /data && chown gridbot:gridbot /data

USER gridbot
VOLUME ["/data"]
ENV GRIDBOT_CONFIG=/data/config.toml
EXPOSE 8080

ENTRYPOINT ["gridbot"]
CMD ["run", "--log-format", "json"]
