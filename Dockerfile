# recording-collector: the collector and every plugin under plugins/ in one image, run as a non-root user.
#
#   docker build -t recording-collector .                     (or: podman build / buildah build)
#   docker run --rm -v ./collector.toml:/etc/recording-collector/collector.toml:ro recording-collector config check
#
# Two stages: the builder turns the collector and plugins/* into wheels and installs them into a venv;
# the final stage is the base image plus that venv and a user, with no pip, compiler or source tree.
# The same file builds in production (FROM the public python image) and in the test suite, which has
# no registry and builds FROM a base made from Debian's packages (tests/test_deploy.py, docs/deploy.md).
# Both bases must be Debian 12 with Python 3.11: the venv's interpreter is the base's own.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS builder
# Extras in the image: scale-out (PostgreSQL catalog, S3 files, the task queue: `collector worker`)
# and jwt (plugins that sign JWT grants). EXTRA_PACKAGES: your own plugins from an index, if any
# (a plugin of yours can also go under plugins/, where it is picked up like the built-in ones).
ARG EXTRAS=scale-out,jwt
ARG EXTRA_PACKAGES=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY plugins ./plugins
# Every dependency has wheels for Linux on x86-64 and arm64, so no compiler is needed even here; if
# one ever must be compiled, install build-essential in this stage only. Installing from /wheels
# with --no-index proves the venv holds exactly what was built. pip and setuptools leave the venv
# afterwards: nothing installs packages at run time.
RUN python3 -m venv /opt/recording-collector \
 && /opt/recording-collector/bin/pip wheel --quiet --wheel-dir /wheels ".[${EXTRAS}]" ./plugins/* ${EXTRA_PACKAGES} \
 && /opt/recording-collector/bin/pip install --quiet --no-index --find-links /wheels /wheels/*.whl \
 && /opt/recording-collector/bin/python -m pip uninstall --quiet --yes pip setuptools \
 && /opt/recording-collector/bin/collector --version

FROM ${BASE}
# A fixed numeric id, so Kubernetes can check runAsNonRoot (it cannot resolve a user name) and the
# manifests' runAsUser/fsGroup match (deploy/kubernetes/collector.yaml; a test checks they agree).
# /var/lib/recording-collector is the store path of the cluster configuration: there the collector
# keeps only its scratch space (.tmp/, downloads being verified) and its lock; mount a volume there.
RUN groupadd --gid 10001 collector \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/recording-collector --no-create-home --no-log-init \
        --shell /usr/sbin/nologin collector \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/recording-collector \
 && install -d -m 0755 /etc/recording-collector
COPY --from=builder /opt/recording-collector /opt/recording-collector
# Bytecode was compiled when the wheels were installed; never write it at run time (read-only root).
ENV PATH=/opt/recording-collector/bin:$PATH \
    COLLECTOR_CONFIG=/etc/recording-collector/collector.toml \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME /var/lib/recording-collector
WORKDIR /var/lib/recording-collector
USER 10001:10001
# No HEALTHCHECK: Kubernetes ignores it, and the only truthful signal a worker has (its heartbeat in
# the task queue) lives in PostgreSQL, where the other workers already act on it.
ENTRYPOINT ["collector"]
CMD ["worker"]
