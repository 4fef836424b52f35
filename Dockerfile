# tim-reconciler, for running `reconciler watch` (or any other command) in a container.
#   docker build --build-arg VERSION=0.2.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t tim-reconciler .
#   docker run --rm -p 8788:8788 -v "$PWD/config:/config:ro" \
#     -e TIM_SECRET_KEY -e TIM_CALLBACK_TOKEN tim-reconciler watch /config --listen 0.0.0.0:8788
#
# The base image is named by tag, not yet by digest. To pin it (reproducible builds), look the
# digest up where a registry is reachable, e.g.
#   docker buildx imagetools inspect python:3.12-slim --format '{{json .Manifest.Digest}}'
# and write both FROM lines as `FROM python:3.12-slim@sha256:<that digest>`; renovate or
# dependabot then keep it current. (No digest is written here without having been looked up.)
#
# The dependencies come from requirements/image.txt, a lock with a hash for every file
# (pip-compile --generate-hashes on Python 3.12, the base's; its header says how to renew it).

FROM python:3.12-slim AS build
# No .git in the build context: setuptools-scm takes the version from this argument.
ARG VERSION=0.0.0
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
RUN SETUPTOOLS_SCM_PRETEND_VERSION_FOR_TIM_RECONCILER="${VERSION}" \
    pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/your-org/tim-reconciler
LABEL org.opencontainers.image.title="tim-reconciler" \
      org.opencontainers.image.description="Chat groups as code for Tencent Cloud Chat" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --uid 10001 --home-dir /home/reconciler --create-home reconciler
COPY requirements/image.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
    && reconciler --version
USER 10001:10001
WORKDIR /home/reconciler
EXPOSE 8788
ENTRYPOINT ["reconciler"]
CMD ["watch", "/config", "--listen", "0.0.0.0:8788", "--log-format", "json"]
