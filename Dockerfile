# tim-reconciler, for running `reconciler watch` (or any other command) in a container.
#   docker build -t tim-reconciler .
#   docker run --rm -p 8788:8788 -v "$PWD/config:/config:ro" \
#     -e TIM_SECRET_KEY -e TIM_CALLBACK_TOKEN tim-reconciler watch /config --listen 0.0.0.0:8788
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /home/reconciler --create-home reconciler
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /home/reconciler
EXPOSE 8788
ENTRYPOINT ["reconciler"]
CMD ["watch", "/config", "--listen", "0.0.0.0:8788", "--log-format", "json"]
