"""The limit for bench/serving.py: a bare Starlette endpoint around the same model.

    .venv/bin/python bench/_bare_server.py --model iris/1 --port P    # cwd = a loopml workspace

`POST /predict` with `{"instances": [{column: value, ...}, ...]}` builds a pandas frame of
the rows and answers `{"predictions": [...]}` from the model's own `predict`, called inline
on the event loop: no validation, no signature, no logging, no metrics, no thread hop. The
model object is the one loopml stored (`loopml.registry.load(...).model`). One uvicorn
worker unless `--workers N`, the same uvicorn settings as `loopml serve`.
"""

from __future__ import annotations

import argparse
import json
import os

import pandas as pd
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import loopml


def create_app(model_uri: str) -> Starlette:
    model = loopml.registry.load(model_uri).model

    async def predict(request: Request) -> Response:
        document = json.loads(await request.body())
        frame = pd.DataFrame(document["instances"])
        predictions = model.predict(frame).tolist()
        body = json.dumps({"predictions": predictions}).encode()
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def app_from_environment() -> Starlette:
    """The app of one of several workers (uvicorn calls it in each)."""
    return create_app(os.environ["BARE_MODEL"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a loopml model URI, e.g. iris/1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options = {"host": args.host, "port": args.port, "log_level": "warning", "access_log": False}
    if args.workers == 1:
        uvicorn.run(create_app(args.model), **options)
        return
    os.environ["BARE_MODEL"] = args.model
    uvicorn.run("_bare_server:app_from_environment", factory=True, workers=args.workers,
                **options)  # fmt: skip


if __name__ == "__main__":
    main()
