# ecomtune service image (CPU): serves the run directories given as arguments, mounted under /models.
#   docker build -t ecomtune-serve .
#   docker run -p 8000:8000 -v "$PWD/runs/sentiment-en:/models/sentiment" --stop-timeout 35 ecomtune-serve /models/sentiment
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 TRANSFORMERS_VERBOSITY=error
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# torch first, from the CPU index: an unpinned or default-index torch pulls gigabytes of CUDA packages.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && pip install ".[onnx,serve]"
RUN useradd --create-home ecomtune
USER ecomtune
EXPOSE 8000
HEALTHCHECK --interval=10s --start-period=120s CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
# SIGTERM (docker stop) finishes in-flight requests before exiting: give it longer than --shutdown-timeout.
ENTRYPOINT ["ecomtune", "serve", "--host", "0.0.0.0", "--port", "8000", "--shutdown-timeout", "30"]
CMD ["/models/model"]
