# syntax=docker/dockerfile:1
#
# selftaught-consumer's image. Build it at the repository root:
#
#     docker build -t selftaught-consumer:0.1.0 .
#
# Two stages on the same slim Python base. The first builds the project's wheel from
# pyproject.toml, with the hot path compiled by mypyc (the build hook there; about a third
# less CPU per event, bench/README.md), and installs it, with its dependencies as published
# wheels, into a virtualenv. The second copies only that virtualenv: the compiler stays in
# the build stage, and every dependency ships manylinux wheels.

ARG PYTHON_IMAGE=python:3.13-slim-trixie

# -- build ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HATCH_BUILD_HOOKS_ENABLE=1

# mypyc emits C: a C compiler and libc's headers (Python's own come with the base image).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the wheel is built from, as pyproject.toml names it: the metadata, the readme,
# the package and the schemas it carries (force-include). .dockerignore keeps the rest out.
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY consumer/ consumer/

RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels .

# --only-binary: a dependency without a wheel for this platform fails the build here
# instead of pulling in a compiler.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/selftaught \
    && /opt/selftaught/bin/pip install --only-binary=:all: /wheels/selftaught_consumer-*.whl \
    && /opt/selftaught/bin/pip uninstall --yes pip

# -- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="selftaught-consumer" \
      org.opencontainers.image.description="Streams critic scores from Kafka into self-taught contrast pairs (memory cards)" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid, so Kubernetes can verify runAsNonRoot (the Helm chart's
# securityContext uses the same ids).
RUN groupadd --system --gid 10001 selftaught \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin selftaught

COPY --from=build /opt/selftaught /opt/selftaught

# The root filesystem can be read-only: the wheel's bytecode was compiled at install time,
# and nothing else is written outside /tmp.
ENV PATH=/opt/selftaught/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001

# /metrics, /healthz and /readyz (SELFTAUGHT_HTTP_PORT).
EXPOSE 9400

# Exec form, no shell in between: SIGTERM from `docker stop` or the kubelet reaches the
# service itself, which drains in-flight work, commits and leaves the group.
STOPSIGNAL SIGTERM
ENTRYPOINT ["selftaught"]
# `selftaught run` by default; other commands by replacing the arguments, e.g.
# `docker run --rm IMAGE schemas register`.
CMD ["run"]
