# tim-reconciler, for running `reconciler watch` (or any other command) in a container.
#   docker build --build-arg VERSION=0.2.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t tim-reconciler .
#   docker run --rm -p 8788:8788 -v "$PWD/config:/config:ro" \
#     -e TIM_SECRET_KEY -e TIM_CALLBACK_TOKEN tim-reconciler watch /config --listen 0.0.0.0:8788
#
# The base image is pinned by digest (reproducible builds): the OCI index of python:3.12-slim
# (Python 3.12.13 on Debian trixie, built 2026-08-05) as the official images' record has it,
# docker-library/repo-info repos/python/remote/3.12-slim.md at commit 2986dca3a80c. To move it
# to a newer build, look the digest up where a registry is reachable, e.g.
#   docker buildx imagetools inspect python:3.12-slim --format '{{json .Manifest.Digest}}'
# and write it into both FROM lines (the same image: the wheel is built on what runs it);
# renovate or dependabot keep such pins current.
#
# The dependencies come from requirements/image.txt, a lock with a hash for every file
# (pip-compile --generate-hashes on Python 3.12, the base's; its header says how to renew it).

FROM python:3.12-slim@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36 AS build
# No .git in the build context: setuptools-scm takes the version from this argument.
ARG VERSION=0.0.0
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
RUN SETUPTOOLS_SCM_PRETEND_VERSION_FOR_TIM_RECONCILER="${VERSION}" \
    pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36
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
