# The lineage-pipeline image: one image, two entrypoints.
#   processor: python -m stream_processor   (the default command)
#   sink:      python -m graph_sink
# Configuration comes from LINEAGE_<SECTION>__<KEY> environment variables or a YAML file
# named by LINEAGE_CONFIG (lineage_pipeline/settings.py); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lineage-pipeline
COPY pyproject.toml README.md ./
COPY lineage_pipeline ./lineage_pipeline
COPY emitters ./emitters
COPY stream_processor ./stream_processor
COPY graph_sink ./graph_sink
# every package pyproject.toml lists (`pip install .` builds them all); neither service
# imports the query layer or the app shell, and their extra ([local]) is not installed here
COPY lineage_queries ./lineage_queries
COPY lineage_app ./lineage_app
COPY schemas ./schemas

# The processor and sink extras (the plain install is the emitter SDK only); the pandas,
# spark, torch and demo extras belong to the jobs that emit.
RUN pip install .[processor,sink] \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/lineage lineage

USER lineage
WORKDIR /var/lib/lineage
ENV LINEAGE_DATA_DIR=/var/lib/lineage

# Prometheus /metrics of the processor and the sink (settings.processor/sink.metrics_port).
EXPOSE 19464 19465

CMD ["python", "-m", "stream_processor"]
