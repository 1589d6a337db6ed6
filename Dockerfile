# Forward Pass Explorer: one replica. Build: docker build -t forward-pass-explorer .
# Run:   docker run -p 8501:8501 -v explorer-data:/data forward-pass-explorer
FROM python:3.11.7-slim-bookworm

# Optional: a CPU-only torch wheel index keeps the image small (the default torch wheel for
# x86_64 bundles CUDA libraries this app never uses). Pass --build-arg TORCH_INDEX_URL=...
ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FPE_DATA_DIR=/data \
    OMP_NUM_THREADS=1

RUN useradd --create-home --uid 10001 explorer && mkdir -p /data && chown explorer /data
WORKDIR /app

COPY requirements.txt constraints.txt ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL"; \
    fi && pip install -r requirements.txt -c constraints.txt

COPY --chown=explorer . .
USER explorer

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
