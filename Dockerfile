# Image for the producer, the worker and the one-shot migrate service (see compose.yaml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The runtime dependencies only (no test tools): `make lock` writes both lock files.
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY rulequeue ./rulequeue
COPY producer ./producer
COPY worker ./worker
COPY schemas ./schemas
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 rulequeue
USER rulequeue
CMD ["rulequeue", "producer", "--host", "0.0.0.0", "--port", "8000"]
