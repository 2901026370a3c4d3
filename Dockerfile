# The llmfit node agent: `docker build -t llmfit:0.1.0 .`; deploy/ runs it on every node.
FROM python:3.11-slim

# The root filesystem is read-only in the DaemonSet: no .pyc files, and llmfit's own files
# (user catalog, caches) go to LLMFIT_HOME, an emptyDir volume there.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LLMFIT_HOME=/var/lib/llmfit \
    HF_HOME=/var/lib/llmfit/hf

WORKDIR /src
COPY pyproject.toml README.md models.json ./
COPY llmfit ./llmfit
RUN pip install ".[k8s]" \
    && rm -rf /src \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/llmfit \
       --shell /usr/sbin/nologin llmfit \
    && mkdir -p /var/lib/llmfit \
    && chown 10001:10001 /var/lib/llmfit

WORKDIR /var/lib/llmfit
USER 10001:10001
EXPOSE 8787
ENTRYPOINT ["llmfit"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8787"]
