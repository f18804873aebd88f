"""The embeddings server a user would otherwise write: FastAPI + sentence-transformers, one worker.

    .venv/bin/python bench/st_server.py MODEL_FOLDER [--port 8090]

OpenAI-compatible `POST /v1/embeddings` (string or list input, float vectors, usage) over
`SentenceTransformer.encode`, run by one uvicorn worker: bench/text_bench.py's baseline. Written
the plain way (a sync endpoint in FastAPI's thread pool, torch's default threads), as the
sentence-transformers and FastAPI docs show it; nothing tuned.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer


class EmbeddingRequest(BaseModel):
    input: str | list[str]
    model: str
    encoding_format: str = "float"


def make_app(folder: str) -> FastAPI:
    model = SentenceTransformer(folder, device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"ready": True}

    @app.post("/v1/embeddings")
    def embeddings(req: EmbeddingRequest) -> dict:
        texts = [req.input] if isinstance(req.input, str) else req.input
        vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
        tokens = sum(len(ids) for ids in model.tokenize(texts)["input_ids"])
        return {"object": "list", "model": req.model,
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    uvicorn.run(make_app(args.folder), host="127.0.0.1", port=args.port, workers=1, access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
