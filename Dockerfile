# mirror: the caching, tiered package index, as a container.
#   docker build -t mirror .
#   docker run -p 8080:8080 -v mirror-cache:/data mirror
FROM python:3.12-slim AS build
# A C compiler for the project list's native passes (hatch_build.py; without one the wheel uses the Python ones).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY mirror ./mirror
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[s3,postgres]"   # S3 storage and PostgreSQL available in the image

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mirror \
    && mkdir -p /data /etc/mirror/policies && chown mirror /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY docker/config.toml /etc/mirror/config.toml
# /etc/mirror/policies starts empty ('reviewed' and 'vetted' serve nothing): mount your policy repository there,
# e.g. -v "$PWD/policies:/etc/mirror/policies:ro" (examples/policies shows the format).
USER mirror
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
CMD ["mirror", "serve", "--config", "/etc/mirror/config.toml"]
