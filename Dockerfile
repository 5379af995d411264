# The project's own image for the scale-out profile (docker-compose.yml): Airflow, Superset and
# the fpa command from pyproject.toml and the committed uv.lock, nothing resolved anew.
FROM python:3.11-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

# the environment outside the source tree, so a bind-mounted checkout cannot shadow it
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH \
    FPA_HOME=/app \
    AIRFLOW_HOME=/opt/airflow \
    PYTHONUNBUFFERED=1

WORKDIR /app

# the bulletin's PDF: LibreOffice converts its Word file, with the Chinese fonts it names; the
# weekly report's screenshot: Debian's headless Chromium (Playwright cannot download its own
# here; fpa.dashboards.browser puts this one where it looks)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libreoffice-writer-nogui fonts-noto-cjk \
        chromium-headless-shell \
    && rm -rf /var/lib/apt/lists/*

# the dependencies first (a layer that changes only with the lock file), then the project
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
COPY dags ./dags
COPY dbt ./dbt
COPY expectations ./expectations
COPY config ./config
COPY superset ./superset
RUN uv sync --locked --no-dev

# one unprivileged user; the folders the named volumes mount on are its own, so a new volume
# starts with that owner
RUN useradd --uid 50000 --create-home fpa \
    && mkdir -p /opt/airflow/logs /data/warehouse /data/inbox /data/superset \
    && chown -R fpa /opt/airflow /data /app/dbt
USER fpa
